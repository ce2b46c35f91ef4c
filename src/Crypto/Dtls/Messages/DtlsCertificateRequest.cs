namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// CertificateRequest (RFC 5246 §7.4.4):
/// <code>
/// ClientCertificateType certificate_types&lt;1..2^8-1&gt;; SignatureAndHashAlgorithm supported_signature_algorithms&lt;2..2^16-2&gt;;
/// DistinguishedName certificate_authorities&lt;0..2^16-1&gt;
/// </code>
/// WebRTC servers must offer ecdsa_sign (64); we also offer rsa_sign (1).
/// </summary>
internal sealed class DtlsCertificateRequest
{
    public const byte RsaSign = 1;
    public const byte EcdsaSign = 64;

    public byte[] CertificateTypes { get; set; } = [EcdsaSign, RsaSign];
    public List<ushort> SignatureSchemes { get; set; } = [];

    public static DtlsCertificateRequest Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        var m = new DtlsCertificateRequest { CertificateTypes = r.ReadVector8(1).ToArray() };
        var algs = r.ReadVector16(2, 0xFFFE);
        if ((algs.Length & 1) != 0) throw TlsReader.Fail("CertificateRequest signature algorithms");
        for (int i = 0; i < algs.Length; i += 2) m.SignatureSchemes.Add((ushort)((algs[i] << 8) | algs[i + 1]));
        r.ReadVector16(); // certificate_authorities: ignored (WebRTC uses self-signed certificates)
        r.EnsureEnd("CertificateRequest");
        return m;
    }

    public byte[] Serialize()
    {
        var w = new TlsWriter(64);
        w.WriteVector8(CertificateTypes);
        int m = w.BeginVector(2);
        foreach (var s in SignatureSchemes) w.WriteU16(s);
        w.EndVector(m);
        w.WriteU16(0);
        return w.ToArray();
    }
}
