namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// ServerHello (RFC 5246 §7.4.1.3):
/// <code>
/// ProtocolVersion server_version (2); Random random (32); SessionID session_id&lt;0..32&gt;;
/// CipherSuite cipher_suite (2); CompressionMethod compression_method (1); Extension extensions&lt;0..2^16-1&gt; (optional)
/// </code>
/// </summary>
internal sealed class ServerHello
{
    public ushort Version { get; set; } = TlsVersion.Dtls12;
    public byte[] Random { get; set; } = new byte[32];
    public byte[] SessionId { get; set; } = [];
    public ushort CipherSuite { get; set; }
    public byte CompressionMethod { get; set; }
    public List<(ushort Type, byte[] Data)> Extensions { get; set; } = [];

    public static ServerHello Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        ushort version = TlsHelloPrefix.Read(ref r, out var random, out var sessionId);
        var sh = new ServerHello
        {
            Version = version,
            Random = random,
            SessionId = sessionId,
            CipherSuite = r.ReadU16(),
            CompressionMethod = r.ReadU8(),
        };
        sh.Extensions = TlsExtensions.ReadOptionalBlock(ref r);
        r.EnsureEnd("ServerHello");
        return sh;
    }

    public byte[] Serialize()
    {
        var w = new TlsWriter(128);
        TlsHelloPrefix.Write(w, Version, Random, SessionId);
        w.WriteU16(CipherSuite);
        w.WriteU8(CompressionMethod);
        TlsExtensions.WriteBlock(w, Extensions);
        return w.ToArray();
    }
}
