namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// HelloVerifyRequest (RFC 6347 §4.2.1): <c>ProtocolVersion server_version (2); opaque cookie&lt;0..2^8-1&gt;</c>.
/// Servers send version DTLS 1.0 (FEFF) here whatever they negotiate later, as the RFC recommends.
/// </summary>
internal sealed class HelloVerifyRequest
{
    public ushort Version { get; set; } = TlsVersion.Dtls10;
    public byte[] Cookie { get; set; } = [];

    public static HelloVerifyRequest Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        var m = new HelloVerifyRequest { Version = r.ReadU16(), Cookie = r.ReadVector8().ToArray() };
        r.EnsureEnd("HelloVerifyRequest");
        return m;
    }

    public byte[] Serialize()
    {
        var w = new TlsWriter(40);
        w.WriteU16(Version);
        w.WriteVector8(Cookie);
        return w.ToArray();
    }
}
