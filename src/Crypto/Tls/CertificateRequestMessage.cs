namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.3.2
//   struct {
//       opaque certificate_request_context<0..2^8-1>;   // empty during the handshake
//       Extension extensions<2..2^16-1>;                 // signature_algorithms is required
//   } CertificateRequest;

/// <summary>A parsed or to-be-written CertificateRequest.</summary>
internal sealed class CertificateRequestMessage
{
    public List<ushort> SignatureAlgorithms = [];

    public static CertificateRequestMessage Parse(ReadOnlySpan<byte> body)
    {
        var m = new CertificateRequestMessage();
        var r = new TlsReader(body);
        var ctx = r.ReadVector8();
        if (ctx.Length != 0) throw TlsAlert.Illegal("certificate_request_context must be empty in the handshake");
        var block = r.ReadVector16(2);
        r.EnsureEnd();
        List<ushort>? algs = null;
        foreach (var (type, data) in TlsExtensions.ReadBlock(block))
        {
            if (type == TlsExtensionType.SignatureAlgorithms) algs = TlsExtensions.ReadU16List(data, 2, 2);
            // other extensions (certificate_authorities, oid_filters, GREASE) are ignored
        }
        m.SignatureAlgorithms = algs ?? throw new CryptoException(CryptoError.Malformed, "CertificateRequest without signature_algorithms", TlsAlert.MissingExtension);
        return m;
    }

    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.CertificateRequest);
        w.WriteU8(0);
        int exts = w.BeginVector(2);
        TlsExtensions.WriteU16ListExtension(w, TlsExtensionType.SignatureAlgorithms, SignatureAlgorithms, 2);
        w.EndVector(exts);
        w.EndVector(msg);
    }
}
