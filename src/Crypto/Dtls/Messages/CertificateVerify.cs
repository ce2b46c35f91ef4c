namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// CertificateVerify (RFC 5246 §7.4.8): <c>SignatureAndHashAlgorithm (2) | opaque signature&lt;0..2^16-1&gt;</c>, signing all
/// handshake messages sent or received so far (starting at the ClientHello that carried the cookie).
/// </summary>
internal static class CertificateVerify
{
    public static (ushort Scheme, byte[] Signature) Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        ushort scheme = r.ReadU16();
        var sig = r.ReadVector16(1).ToArray();
        r.EnsureEnd("CertificateVerify");
        return (scheme, sig);
    }

    public static byte[] Serialize(ushort scheme, ReadOnlySpan<byte> signature)
    {
        var w = new TlsWriter(80);
        w.WriteU16(scheme);
        w.WriteVector16(signature);
        return w.ToArray();
    }
}
