namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// DTLS ClientHello (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2):
/// <code>
/// ProtocolVersion client_version (2); Random random (32); SessionID session_id&lt;0..32&gt;;
/// opaque cookie&lt;0..2^8-1&gt;; CipherSuite cipher_suites&lt;2..2^16-2&gt;;
/// CompressionMethod compression_methods&lt;1..2^8-1&gt;; Extension extensions&lt;0..2^16-1&gt; (optional)
/// </code>
/// </summary>
internal sealed class ClientHello
{
    public ushort Version { get; set; } = TlsVersion.Dtls12;
    public byte[] Random { get; set; } = new byte[32];
    public byte[] SessionId { get; set; } = [];
    public byte[] Cookie { get; set; } = [];
    public List<ushort> CipherSuites { get; set; } = [];
    public byte[] CompressionMethods { get; set; } = [0];
    public List<(ushort Type, byte[] Data)> Extensions { get; set; } = [];

    public static ClientHello Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        ushort version = TlsHelloPrefix.Read(ref r, out var random, out var sessionId);
        var ch = new ClientHello { Version = version, Random = random, SessionId = sessionId, Cookie = r.ReadVector8().ToArray() };
        var suites = r.ReadVector16(2, 0xFFFE);
        if ((suites.Length & 1) != 0) throw TlsReader.Fail("ClientHello cipher_suites");
        for (int i = 0; i < suites.Length; i += 2) ch.CipherSuites.Add((ushort)((suites[i] << 8) | suites[i + 1]));
        ch.CompressionMethods = r.ReadVector8(1).ToArray();
        ch.Extensions = TlsExtensions.ReadOptionalBlock(ref r);
        r.EnsureEnd("ClientHello");
        return ch;
    }

    public byte[] Serialize()
    {
        var w = new TlsWriter(512);
        TlsHelloPrefix.Write(w, Version, Random, SessionId);
        w.WriteVector8(Cookie);
        int m = w.BeginVector(2);
        foreach (var s in CipherSuites) w.WriteU16(s);
        w.EndVector(m);
        w.WriteVector8(CompressionMethods);
        TlsExtensions.WriteBlock(w, Extensions);
        return w.ToArray();
    }
}
