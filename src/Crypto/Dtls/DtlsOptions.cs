using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Dtls;

/// <summary>Lifecycle of a <see cref="DtlsEndpoint"/>.</summary>
public enum DtlsState
{
    /// <summary>Created; <see cref="DtlsEndpoint.Start"/> not called yet.</summary>
    New,
    /// <summary>Handshake in progress.</summary>
    Connecting,
    /// <summary>Handshake complete; application data flows.</summary>
    Connected,
    /// <summary>Closed by either side with close_notify (or by <see cref="DtlsEndpoint.Close"/>).</summary>
    Closed,
    /// <summary>A fatal error; see <see cref="DtlsEndpoint.Error"/>.</summary>
    Failed,
}

/// <summary>DTLS 1.2 cipher suites implemented (all ECDHE with ECDSA authentication over P-256).</summary>
public enum DtlsCipherSuite : ushort
{
    /// <summary>TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (RFC 5289), the one WebRTC browsers use.</summary>
    EcdheEcdsaAes128GcmSha256 = 0xC02B,
    /// <summary>TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 (RFC 5289).</summary>
    EcdheEcdsaAes256GcmSha384 = 0xC02C,
}

/// <summary>SRTP protection profiles of the use_srtp extension (RFC 5764 §4.1.2, RFC 7714 §14.2).</summary>
public enum SrtpProtectionProfile : ushort
{
    /// <summary>SRTP_AES128_CM_HMAC_SHA1_80: 16-byte keys, 14-byte salts (export 60 bytes).</summary>
    Aes128CmHmacSha1_80 = 0x0001,
    /// <summary>SRTP_AES128_CM_HMAC_SHA1_32: 16-byte keys, 14-byte salts (export 60 bytes).</summary>
    Aes128CmHmacSha1_32 = 0x0002,
    /// <summary>SRTP_AEAD_AES_128_GCM: 16-byte keys, 12-byte salts (export 56 bytes).</summary>
    AeadAes128Gcm = 0x0007,
    /// <summary>SRTP_AEAD_AES_256_GCM: 32-byte keys, 12-byte salts (export 88 bytes).</summary>
    AeadAes256Gcm = 0x0008,
}

/// <summary>Settings of a <see cref="DtlsEndpoint"/>.</summary>
public sealed class DtlsOptions
{
    /// <summary>True for the DTLS client role (WebRTC <c>a=setup:active</c>), false for the server role.</summary>
    public bool IsClient { get; init; }

    /// <summary>Our certificate with its ECDSA P-256 private key (required in both roles: WebRTC authenticates both ends).</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>
    /// Decides whether the peer's end-entity certificate is acceptable (typically: its fingerprint equals the SDP
    /// <c>a=fingerprint</c>; see <see cref="CertificateFingerprint.MatchesSdp"/>). Called once, during the handshake.
    /// </summary>
    public Func<X509Certificate2, bool>? ValidatePeerCertificate { get; init; }

    /// <summary>
    /// Alternative to <see cref="ValidatePeerCertificate"/>: the peer's SDP fingerprint, e.g. <c>"sha-256 AB:CD:…"</c>
    /// (sha-1, sha-256, sha-384 and sha-512 are understood). When both are set, both must accept.
    /// </summary>
    public string? RemoteFingerprint { get; init; }

    /// <summary>Accept any peer certificate when neither check is configured (tests only). Default false: the handshake fails.</summary>
    public bool AllowAnyPeerCertificate { get; init; }

    /// <summary>SRTP profiles for use_srtp, in preference order; empty disables the extension.</summary>
    public IReadOnlyList<SrtpProtectionProfile> SrtpProfiles { get; init; } =
        [SrtpProtectionProfile.AeadAes128Gcm, SrtpProtectionProfile.Aes128CmHmacSha1_80];

    /// <summary>Cipher suites in preference order.</summary>
    public IReadOnlyList<DtlsCipherSuite> CipherSuites { get; init; } =
        [DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, DtlsCipherSuite.EcdheEcdsaAes256GcmSha384];

    /// <summary>Largest datagram we send during the handshake (flights are fragmented to fit). Default 1200.</summary>
    public int Mtu { get; init; } = 1200;

    /// <summary>Server: answer a ClientHello without a valid cookie with a HelloVerifyRequest (stateless HMAC cookie). Default true.</summary>
    public bool UseHelloVerifyRequest { get; init; } = true;

    /// <summary>Server: fail the handshake when the client sends no certificate. Default true (WebRTC).</summary>
    public bool RequireClientCertificate { get; init; } = true;

    /// <summary>Initial retransmission timeout (RFC 6347 §4.2.4.1 recommends 1 s).</summary>
    public TimeSpan InitialRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound of the doubling retransmission timeout (RFC 6347: at least 60 s).</summary>
    public TimeSpan MaxRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retransmissions of one flight before the handshake fails. Default 10.</summary>
    public int MaxRetransmissions { get; init; } = 10;

    /// <summary>Received application records buffered until read; further ones are dropped. Default 1024.</summary>
    public int MaxReceiveQueue { get; init; } = 1024;

    /// <summary>
    /// Source of every random value the endpoint draws: the hello randoms, the HelloVerifyRequest cookie secret and
    /// the ephemeral ECDHE P-256 private keys (AES-GCM explicit nonces are the record sequence numbers, not random).
    /// Default: the system CSPRNG. Tests pass a seeded generator to make flights reproducible; production code must
    /// keep a CSPRNG (predictable ECDHE keys or cookie secrets break the handshake's security). ECDSA signatures
    /// draw their nonces inside the BCL, independent of this.
    /// </summary>
    public RandomNumberGenerator Random { get; init; } = Tls.EphemeralKeys.SystemRandom;

    /// <summary>Test hook: extra ClientHello extensions appended after ours (e.g. to emulate a browser offering DTLS 1.3).</summary>
    internal IReadOnlyList<(ushort Type, byte[] Data)> ExtraClientHelloExtensions { get; init; } = [];

    /// <summary>Test hook: supported_groups offered by a client (default P-256 only).</summary>
    internal IReadOnlyList<ushort>? OfferedGroups { get; init; }
}
