namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.4.3
//   struct {
//       SignatureScheme algorithm;
//       opaque signature<0..2^16-1>;
//   } CertificateVerify;

/// <summary>A parsed or to-be-written CertificateVerify.</summary>
internal sealed class CertificateVerifyMessage
{
    public ushort Scheme;
    public byte[] Signature = [];

    public static CertificateVerifyMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        var m = new CertificateVerifyMessage { Scheme = r.ReadU16(), Signature = r.ReadVector16().ToArray() };
        r.EnsureEnd();
        return m;
    }

    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.CertificateVerify);
        w.WriteU16(Scheme);
        w.WriteVector16(Signature);
        w.EndVector(msg);
    }
}
