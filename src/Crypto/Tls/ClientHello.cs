namespace OspBridge.Crypto.Tls;

// RFC 8446 §4.1.2
//   struct {
//       ProtocolVersion legacy_version = 0x0303;
//       Random random;                                  // 32 bytes
//       opaque legacy_session_id<0..32>;
//       CipherSuite cipher_suites<2..2^16-2>;
//       opaque legacy_compression_methods<1..2^8-1>;   // exactly {0} in TLS 1.3
//       Extension extensions<8..2^16-1>;
//   } ClientHello;

/// <summary>A parsed or to-be-written ClientHello.</summary>
internal sealed class ClientHello
{
    public byte[] Random = new byte[32];
    public byte[] SessionId = [];
    public List<ushort> CipherSuites = [];
    public string? ServerName;
    public List<string>? Alpn;
    public List<ushort>? SupportedVersions;
    public List<ushort>? SupportedGroups;
    public List<(ushort Group, byte[] Key)>? KeyShares;
    public List<ushort>? SignatureAlgorithms;
    public byte[]? TransportParameters;
    public byte[]? Cookie;
    public bool HasEarlyData;

    /// <summary>Parses a ClientHello body (without the 4-byte handshake header).</summary>
    public static ClientHello Parse(ReadOnlySpan<byte> body)
    {
        var ch = new ClientHello();
        var r = new TlsReader(body);
        TlsHelloPrefix.Read(ref r, out ch.Random, out ch.SessionId); // legacy_version: ignored, supported_versions decides
        var suites = r.ReadVector16(2, 65534);
        if ((suites.Length & 1) != 0) throw TlsAlert.Decode("odd cipher_suites length");
        for (int i = 0; i < suites.Length; i += 2) ch.CipherSuites.Add((ushort)((suites[i] << 8) | suites[i + 1]));
        var comp = r.ReadVector8(1);
        if (comp.Length != 1 || comp[0] != 0) throw TlsAlert.Illegal("TLS 1.3 ClientHello must offer only the null compression method");
        var extBlock = r.ReadVector16();
        r.EnsureEnd();
        var exts = TlsExtensions.ReadBlock(extBlock);
        for (int i = 0; i < exts.Count; i++)
        {
            var (type, data) = exts[i];
            switch (type)
            {
                case TlsExtensionType.ServerName: ch.ServerName = TlsExtensions.ReadServerName(data); break;
                case TlsExtensionType.Alpn: ch.Alpn = TlsExtensions.ReadAlpn(data); break;
                case TlsExtensionType.SupportedVersions: ch.SupportedVersions = TlsExtensions.ReadU16List(data, 1, 2); break;
                case TlsExtensionType.SupportedGroups: ch.SupportedGroups = TlsExtensions.ReadU16List(data, 2, 2); break;
                case TlsExtensionType.SignatureAlgorithms: ch.SignatureAlgorithms = TlsExtensions.ReadU16List(data, 2, 2); break;
                case TlsExtensionType.KeyShare: ch.KeyShares = TlsExtensions.ReadClientShares(data); break;
                case TlsExtensionType.QuicTransportParameters: ch.TransportParameters = data; break;
                case TlsExtensionType.EarlyData:
                    if (data.Length != 0) throw TlsAlert.Decode("early_data in ClientHello must be empty");
                    ch.HasEarlyData = true;
                    break;
                case TlsExtensionType.Cookie:
                {
                    var cr = new TlsReader(data);
                    ch.Cookie = cr.ReadVector16(1).ToArray();
                    cr.EnsureEnd();
                    break;
                }
                case TlsExtensionType.PreSharedKey:
                    // We never resume, so the offered identities are ignored, but the extension must be last.
                    if (i != exts.Count - 1) throw TlsAlert.Illegal("pre_shared_key must be the last extension");
                    break;
                default: break; // unknown and GREASE extensions are ignored (RFC 8446 §4.2, RFC 8701)
            }
        }
        return ch;
    }

    /// <summary>Writes the full handshake message (header included).</summary>
    public void Write(TlsWriter w)
    {
        int msg = w.BeginHandshake(TlsHandshakeType.ClientHello);
        TlsHelloPrefix.Write(w, TlsVersion.Tls12, Random, SessionId);
        TlsExtensions.WriteU16List(w, CipherSuites, 2);
        w.WriteVector8([0]);
        int exts = w.BeginVector(2);
        if (ServerName is not null)
            TlsExtensions.WriteServerNameExtension(w, ServerName);
        if (SupportedGroups is not null)
            TlsExtensions.WriteU16ListExtension(w, TlsExtensionType.SupportedGroups, SupportedGroups, 2);
        if (SignatureAlgorithms is not null)
            TlsExtensions.WriteU16ListExtension(w, TlsExtensionType.SignatureAlgorithms, SignatureAlgorithms, 2);
        if (Alpn is { Count: > 0 })
            TlsExtensions.WriteAlpnExtension(w, Alpn);
        if (SupportedVersions is not null)
            TlsExtensions.WriteU16ListExtension(w, TlsExtensionType.SupportedVersions, SupportedVersions, 1);
        if (Cookie is not null)
            TlsExtensions.WriteCookieExtension(w, Cookie);
        if (KeyShares is not null)
        {
            int e = TlsExtensions.BeginExtension(w, TlsExtensionType.KeyShare);
            int list = w.BeginVector(2);
            foreach (var (g, k) in KeyShares) { w.WriteU16(g); w.WriteVector16(k); }
            w.EndVector(list);
            w.EndVector(e);
        }
        if (TransportParameters is not null)
        {
            w.WriteU16(TlsExtensionType.QuicTransportParameters);
            w.WriteVector16(TransportParameters);
        }
        w.EndVector(exts);
        w.EndVector(msg);
    }
}
