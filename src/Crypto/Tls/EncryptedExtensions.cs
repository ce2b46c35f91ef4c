namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.3.1
//   struct { Extension extensions<0..2^16-1>; } EncryptedExtensions;
// We send/accept: application_layer_protocol_negotiation (one name), quic_transport_parameters (RFC 9001 §8.2),
// server_name (empty acknowledgement) and supported_groups (informational).

/// <summary>A parsed or to-be-written EncryptedExtensions message.</summary>
internal sealed class EncryptedExtensions
{
    public string? Alpn;
    public byte[]? TransportParameters;
    public bool ServerNameAck;

    /// <summary>Parses the body. <paramref name="offeredSni"/>/<paramref name="offeredAlpn"/> say what the client sent, so unsolicited responses are refused.</summary>
    public static EncryptedExtensions Parse(ReadOnlySpan<byte> body, bool offeredSni, bool offeredAlpn)
    {
        var ee = new EncryptedExtensions();
        var r = new TlsReader(body);
        var block = r.ReadVector16();
        r.EnsureEnd();
        foreach (var (type, data) in TlsExtensions.ReadBlock(block))
        {
            switch (type)
            {
                case TlsExtensionType.Alpn when offeredAlpn:
                {
                    var names = TlsExtensions.ReadAlpn(data);
                    if (names.Count != 1) throw TlsAlert.Illegal("server must select exactly one ALPN protocol");
                    ee.Alpn = names[0];
                    break;
                }
                case TlsExtensionType.QuicTransportParameters:
                    ee.TransportParameters = data;
                    break;
                case TlsExtensionType.ServerName when offeredSni:
                    if (data.Length != 0) throw TlsAlert.Decode("server_name acknowledgement must be empty");
                    ee.ServerNameAck = true;
                    break;
                case TlsExtensionType.SupportedGroups:
                    TlsExtensions.ReadU16List(data, 2, 2); // allowed, informational only
                    break;
                default:
                    throw new CryptoException(CryptoError.Malformed, $"unsolicited extension {type} in EncryptedExtensions", TlsAlert.UnsupportedExtension);
            }
        }
        return ee;
    }

    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.EncryptedExtensions);
        int exts = w.BeginVector(2);
        if (Alpn is not null)
            TlsExtensions.WriteAlpnExtension(w, [Alpn]);
        if (ServerNameAck)
        {
            w.WriteU16(TlsExtensionType.ServerName);
            w.WriteU16(0);
        }
        if (TransportParameters is not null)
        {
            w.WriteU16(TlsExtensionType.QuicTransportParameters);
            w.WriteVector16(TransportParameters);
        }
        w.EndVector(exts);
        w.EndVector(msg);
    }
}
