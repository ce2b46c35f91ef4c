namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// Certificate (RFC 5246 §7.4.2): <c>ASN.1Cert certificate_list&lt;0..2^24-1&gt;</c>, each <c>opaque ASN.1Cert&lt;1..2^24-1&gt;</c>
/// (DER), sender's certificate first. An empty list is a client's "no certificate".
/// </summary>
internal static class CertificateMessage
{
    public const int MaxCertificates = 10;

    public static List<byte[]> Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        var list = new TlsReader(r.ReadVector24());
        r.EnsureEnd("Certificate");
        var certs = new List<byte[]>();
        while (!list.IsEmpty)
        {
            if (certs.Count >= MaxCertificates) throw TlsReader.Fail("Certificate (too many)");
            certs.Add(list.ReadVector24(1).ToArray());
        }
        return certs;
    }

    public static byte[] Serialize(IReadOnlyList<byte[]> certificates)
    {
        var w = new TlsWriter(1024);
        int m = w.BeginVector(3);
        foreach (var c in certificates) w.WriteVector24(c);
        w.EndVector(m);
        return w.ToArray();
    }
}
