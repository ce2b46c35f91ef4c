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
    public ushort Version { get; set; } = DtlsVersion.Dtls12;
    public byte[] Random { get; set; } = new byte[32];
    public byte[] SessionId { get; set; } = [];
    public ushort CipherSuite { get; set; }
    public byte CompressionMethod { get; set; }
    public List<(ushort Type, byte[] Data)> Extensions { get; set; } = [];

    public static ServerHello Parse(ReadOnlySpan<byte> body)
    {
        var r = new DtlsReader(body);
        var sh = new ServerHello
        {
            Version = r.ReadU16(),
            Random = r.ReadBytes(32).ToArray(),
            SessionId = r.ReadVector8(0, 32).ToArray(),
            CipherSuite = r.ReadU16(),
            CompressionMethod = r.ReadU8(),
        };
        sh.Extensions = HelloExtensions.Read(ref r);
        r.ExpectEnd("ServerHello");
        return sh;
    }

    public byte[] Serialize()
    {
        var w = new DtlsWriter(128);
        w.U16(Version);
        w.Bytes(Random);
        w.Vector8(SessionId);
        w.U16(CipherSuite);
        w.U8(CompressionMethod);
        HelloExtensions.Write(w, Extensions);
        return w.ToArray();
    }
}
