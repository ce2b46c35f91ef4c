namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.6.1
//   struct {
//       uint32 ticket_lifetime;
//       uint32 ticket_age_add;
//       opaque ticket_nonce<0..255>;
//       opaque ticket<1..2^16-1>;
//       Extension extensions<0..2^16-2>;
//   } NewSessionTicket;

/// <summary>NewSessionTicket: validated for well-formedness and then ignored (no resumption).</summary>
internal static class NewSessionTicketMessage
{
    public static void Validate(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        r.ReadU32();
        r.ReadU32();
        r.ReadVector8();
        r.ReadVector16(1);
        TlsExtensions.ReadBlock(r.ReadVector16(0, 65534));
        r.EnsureEnd();
    }
}
