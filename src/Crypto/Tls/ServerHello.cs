namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.1.3 (a HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest"))
//   struct {
//       ProtocolVersion legacy_version = 0x0303;
//       Random random;
//       opaque legacy_session_id_echo<0..32>;
//       CipherSuite cipher_suite;
//       uint8 legacy_compression_method = 0;
//       Extension extensions<6..2^16-1>;   // supported_versions, key_share (KeyShareEntry | selected_group), cookie
//   } ServerHello;

/// <summary>A parsed or to-be-written ServerHello / HelloRetryRequest.</summary>
internal sealed class ServerHello
{
    public byte[] Random = new byte[32];
    public byte[] SessionIdEcho = [];
    public ushort CipherSuite;
    public ushort? SelectedVersion;
    /// <summary>ServerHello: the server's KeyShareEntry group; HRR: selected_group.</summary>
    public ushort? KeyShareGroup;
    /// <summary>ServerHello only: the server's key_exchange.</summary>
    public byte[]? KeyShare;
    public byte[]? Cookie;

    public bool IsHelloRetryRequest => Random.AsSpan().SequenceEqual(TlsConst.HelloRetryRequestRandom);

    public static ServerHello Parse(ReadOnlySpan<byte> body)
    {
        var sh = new ServerHello();
        var r = new TlsReader(body);
        ushort legacy = TlsHelloPrefix.Read(ref r, out sh.Random, out sh.SessionIdEcho);
        sh.CipherSuite = r.ReadU16();
        if (r.ReadU8() != 0) throw TlsAlert.Illegal("ServerHello compression method must be 0");
        var extBlock = r.ReadVector16();
        r.EnsureEnd();
        bool hrr = sh.IsHelloRetryRequest;
        foreach (var (type, data) in TlsExtensions.ReadBlock(extBlock))
        {
            var er = new TlsReader(data);
            switch (type)
            {
                case TlsExtensionType.SupportedVersions:
                    sh.SelectedVersion = er.ReadU16();
                    break;
                case TlsExtensionType.KeyShare:
                    sh.KeyShareGroup = er.ReadU16();
                    if (!hrr) sh.KeyShare = er.ReadVector16(1).ToArray();
                    break;
                case TlsExtensionType.Cookie when hrr:
                    sh.Cookie = er.ReadVector16(1).ToArray();
                    break;
                default:
                    // We offered nothing else that may appear here (no PSK).
                    throw new CryptoException(CryptoError.Malformed, $"unexpected extension {type} in ServerHello", TlsAlert.UnsupportedExtension);
            }
            er.EnsureEnd();
        }
        if (sh.SelectedVersion is null && legacy == TlsVersion.Tls12)
            throw new CryptoException(CryptoError.HandshakeFailure, "server selected TLS 1.2 or older", TlsAlert.ProtocolVersion);
        if (sh.SelectedVersion != TlsVersion.Tls13)
            throw new CryptoException(CryptoError.HandshakeFailure, "server did not select TLS 1.3", TlsAlert.IllegalParameter);
        if (legacy != TlsVersion.Tls12) throw TlsAlert.Illegal("ServerHello legacy_version must be 0x0303");
        return sh;
    }

    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.ServerHello);
        TlsHelloPrefix.Write(w, TlsVersion.Tls12, Random, SessionIdEcho);
        w.WriteU16(CipherSuite);
        w.WriteU8(0);
        int exts = w.BeginVector(2);
        w.WriteU16(TlsExtensionType.SupportedVersions);
        w.WriteU16(2);
        w.WriteU16(TlsVersion.Tls13);
        if (KeyShareGroup is ushort g)
        {
            int e = TlsExtensions.BeginExtension(w, TlsExtensionType.KeyShare);
            w.WriteU16(g);
            if (KeyShare is not null) w.WriteVector16(KeyShare);
            w.EndVector(e);
        }
        if (Cookie is not null)
            TlsExtensions.WriteCookieExtension(w, Cookie);
        w.EndVector(exts);
        w.EndVector(msg);
    }
}
