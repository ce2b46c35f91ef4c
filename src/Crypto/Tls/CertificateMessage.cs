namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.4.2
//   struct {
//       opaque cert_data<1..2^24-1>;
//       Extension extensions<0..2^16-1>;
//   } CertificateEntry;
//   struct {
//       opaque certificate_request_context<0..2^8-1>;
//       CertificateEntry certificate_list<0..2^24-1>;
//   } Certificate;

/// <summary>A parsed or to-be-written Certificate message (X.509 entries only).</summary>
internal sealed class CertificateMessage
{
    /// <summary>Most certificates we accept in one chain.</summary>
    public const int MaxCertificates = 16;

    public List<byte[]> Certificates = [];

    public static CertificateMessage Parse(ReadOnlySpan<byte> body)
    {
        var m = new CertificateMessage();
        var r = new TlsReader(body);
        var ctx = r.ReadVector8();
        if (ctx.Length != 0) throw TlsAlert.Illegal("certificate_request_context must be empty in the handshake");
        var list = new TlsReader(r.ReadVector24());
        r.EnsureEnd();
        while (!list.IsEmpty)
        {
            var cert = list.ReadVector24(1);
            var exts = list.ReadVector16();
            TlsExtensions.ReadBlock(exts); // well-formedness only; we requested no per-entry extensions
            if (m.Certificates.Count == MaxCertificates)
                throw new CryptoException(CryptoError.LimitExceeded, "too many certificates", TlsAlert.BadCertificate);
            m.Certificates.Add(cert.ToArray());
        }
        return m;
    }

    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.Certificate);
        w.WriteU8(0);
        int list = w.BeginVector(3);
        foreach (var c in Certificates)
        {
            w.WriteVector24(c);
            w.WriteU16(0);
        }
        w.EndVector(list);
        w.EndVector(msg);
    }
}
