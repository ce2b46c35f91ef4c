using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Tls;

namespace OspBridge.Quic.Driver;

/// <summary>Maps System.Net.Security options onto the TLS engine's <see cref="QuicTlsOptions"/>.</summary>
internal static class TlsMapping
{
    /// <summary>Test hook: replaces the TLS engine (e.g. a fake handshake); null = the real engine.</summary>
    internal static Func<QuicTlsOptions, IQuicTlsHandshake>? EngineOverride;

    public static IQuicTlsHandshake Create(QuicTlsOptions o) => EngineOverride is { } f ? f(o) : QuicTls.Create(o);

    private static readonly Lazy<TextWriter?> KeyLogWriter = new(() => Crypto.Storage.KeyLogFile.OpenFromEnvironment());

    /// <summary>NSS key log: only when explicitly enabled (SSLKEYLOGFILE + OSPBRIDGE_ENABLE_KEYLOG=1), 0600, warned on stderr; see KeyLogFile.</summary>
    public static TextWriter? KeyLog() => KeyLogWriter.Value;

    public static IReadOnlyList<Crypto.Tls.Tls13CipherSuite> Suites(CipherSuitesPolicy? policy)
    {
        var all = new List<Crypto.Tls.Tls13CipherSuite> { Crypto.Tls.Tls13CipherSuite.Aes128GcmSha256, Crypto.Tls.Tls13CipherSuite.Aes256GcmSha384, Crypto.Tls.Tls13CipherSuite.ChaCha20Poly1305Sha256 };
        if (AegisOffered) all.Insert(0, Crypto.Tls.Tls13CipherSuite.Aegis128LSha256);
        if (policy is null || OperatingSystem.IsWindows()) return all;
        var list = new List<Crypto.Tls.Tls13CipherSuite>();
        foreach (var s in policy.AllowedCipherSuites)
        {
            switch (s)
            {
                case System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256: list.Add(Crypto.Tls.Tls13CipherSuite.Aes128GcmSha256); break;
                case System.Net.Security.TlsCipherSuite.TLS_AES_256_GCM_SHA384: list.Add(Crypto.Tls.Tls13CipherSuite.Aes256GcmSha384); break;
                case System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256: list.Add(Crypto.Tls.Tls13CipherSuite.ChaCha20Poly1305Sha256); break;
                case TlsAegis128LSha256 when Crypto.Aead.Aegis128L.IsSupported: list.Add(Crypto.Tls.Tls13CipherSuite.Aegis128LSha256); break;
            }
        }
        return list.Count > 0 ? list : throw new ArgumentException("CipherSuitesPolicy allows no TLS 1.3 suite usable with QUIC");
    }

    /// <summary>TLS_AEGIS_128L_SHA256 (0x1307) as a <see cref="System.Net.Security.TlsCipherSuite"/> value (the enum has no name for it).</summary>
    public const System.Net.Security.TlsCipherSuite TlsAegis128LSha256 = (System.Net.Security.TlsCipherSuite)0x1307;

    /// <summary>
    /// Whether connections offer TLS_AEGIS_128L_SHA256, first, with no <see cref="CipherSuitesPolicy"/>: where the CPU
    /// has AES-NI, unless <c>OSPBRIDGE_QUIC_AEGIS=0</c> (A/B runs). Peers that don't know it ignore it, so two of our
    /// agents use AEGIS-128L and everyone else AES-GCM.
    /// </summary>
    public static readonly bool AegisOffered = Crypto.Aead.Aegis128L.IsSupported && Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_AEGIS") != "0";

    public static System.Net.Security.TlsCipherSuite ToBcl(Crypto.Tls.Tls13CipherSuite s) => s switch
    {
        Crypto.Tls.Tls13CipherSuite.Aegis128LSha256 => TlsAegis128LSha256,
        Crypto.Tls.Tls13CipherSuite.Aes256GcmSha384 => System.Net.Security.TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        Crypto.Tls.Tls13CipherSuite.ChaCha20Poly1305Sha256 => System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        _ => System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256,
    };

    /// <summary>Builds the peer-certificate validator: the user's callback sees chain/name errors like SslStream would report them.</summary>
    public static TlsCertificateValidator Validator(object sender, RemoteCertificateValidationCallback? callback, string? targetHost, bool isClient)
        => (leaf, chain) =>
        {
            using var x509Chain = new X509Chain();
            foreach (var c in chain) x509Chain.ChainPolicy.ExtraStore.Add(c);
            x509Chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            var errors = SslPolicyErrors.None;
            if (!x509Chain.Build(leaf)) errors |= SslPolicyErrors.RemoteCertificateChainErrors;
            if (isClient && !string.IsNullOrEmpty(targetHost) && !leaf.MatchesHostname(targetHost)) errors |= SslPolicyErrors.RemoteCertificateNameMismatch;
            return callback is null ? errors == SslPolicyErrors.None : callback(sender, leaf, x509Chain, errors);
        };
}
