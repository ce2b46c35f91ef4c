using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>QUIC encryption levels that carry TLS handshake data (RFC 9001 §4.1.3; 0-RTT is not used).</summary>
public enum TlsEncryptionLevel
{
    /// <summary>Initial packets (keys from the Destination Connection ID).</summary>
    Initial = 0,
    /// <summary>Handshake packets.</summary>
    Handshake = 2,
    /// <summary>1-RTT packets.</summary>
    Application = 3,
}

/// <summary>TLS 1.3 cipher suites supported (RFC 8446 §B.4).</summary>
public enum Tls13CipherSuite : ushort
{
    /// <summary>TLS_AES_128_GCM_SHA256.</summary>
    Aes128GcmSha256 = 0x1301,
    /// <summary>TLS_AES_256_GCM_SHA384.</summary>
    Aes256GcmSha384 = 0x1302,
    /// <summary>TLS_CHACHA20_POLY1305_SHA256.</summary>
    ChaCha20Poly1305Sha256 = 0x1303,
    /// <summary>
    /// TLS_AEGIS_128L_SHA256 (IANA, RFC 10032): AEGIS-128L with 128-bit tags, 16-byte nonces. Offered by our QUIC where
    /// <see cref="Aead.Aegis128L.IsSupported"/>; other peers ignore it and agree on an AES-GCM suite.
    /// </summary>
    Aegis128LSha256 = 0x1307,
}

/// <summary>Kind of a <see cref="TlsOutput"/> item.</summary>
public enum TlsOutputKind
{
    /// <summary>Handshake bytes to send in CRYPTO frames at <see cref="TlsOutput.Level"/>.</summary>
    CryptoData,
    /// <summary>A traffic secret became available: install keys for <see cref="TlsOutput.Level"/> in direction <see cref="TlsOutput.IsWrite"/>.</summary>
    Secret,
    /// <summary>
    /// The handshake completed: the endpoint has sent its Finished and verified the peer's (RFC 9001 §4.1.1).
    /// Client: after verifying the server Finished and queuing its own. Server: after verifying the client
    /// Finished (and client certificate, if requested) — the server may then send HANDSHAKE_DONE.
    /// </summary>
    HandshakeComplete,
}

/// <summary>
/// One ordered output of the TLS engine. The QUIC connection must process outputs in order: a write
/// secret for a level always precedes the first CryptoData at that level.
/// </summary>
public readonly record struct TlsOutput(TlsOutputKind Kind, TlsEncryptionLevel Level, ReadOnlyMemory<byte> Data, bool IsWrite, Tls13CipherSuite CipherSuite);

/// <summary>Decides whether a peer certificate is acceptable (OSP pins SPKI fingerprints, WebTransport whole-certificate hashes).</summary>
/// <param name="leaf">The peer's end-entity certificate.</param>
/// <param name="chain">Further certificates the peer sent (may be empty).</param>
/// <returns>True to accept.</returns>
public delegate bool TlsCertificateValidator(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> chain);

/// <summary>Settings of a TLS 1.3 endpoint used under QUIC.</summary>
public sealed class QuicTlsOptions
{
    /// <summary>True for the client role.</summary>
    public bool IsClient { get; init; }

    /// <summary>Client: SNI host name to send (null: none). Server: ignored.</summary>
    public string? ServerName { get; init; }

    /// <summary>ALPN protocols in preference order (client: offered; server: accepted, first match in this list wins).</summary>
    public IReadOnlyList<string> ApplicationProtocols { get; init; } = [];

    /// <summary>Encoded QUIC transport parameters to send in the quic_transport_parameters extension (0x39).</summary>
    public ReadOnlyMemory<byte> LocalTransportParameters { get; init; }

    /// <summary>Our certificate with its private key (server: required; client: sent when the server asks).</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Server: send a CertificateRequest and fail the handshake when the client sends no certificate.</summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>Validates the peer certificate. Null: accept any (only for tests and explicit <c>--insecure</c>).</summary>
    public TlsCertificateValidator? ValidatePeerCertificate { get; init; }

    /// <summary>Cipher suites allowed, in preference order (default: all three, AES-128-GCM first).</summary>
    public IReadOnlyList<Tls13CipherSuite> CipherSuites { get; init; } =
        [Tls13CipherSuite.Aes128GcmSha256, Tls13CipherSuite.Aes256GcmSha384, Tls13CipherSuite.ChaCha20Poly1305Sha256];

    /// <summary>When set, NSS key-log lines (SSLKEYLOGFILE format) are written here.</summary>
    public TextWriter? KeyLog { get; init; }

    /// <summary>
    /// Source of the handshake's randomness: the ClientHello/ServerHello random and the ephemeral x25519/secp256r1
    /// private keys. Default: the system CSPRNG. Tests pass a seeded generator to make a first flight reproducible;
    /// production code must keep a CSPRNG (predictable key shares give away every session key). Certificate
    /// signatures draw their nonces inside the BCL, independent of this.
    /// </summary>
    public RandomNumberGenerator Random { get; init; } = EphemeralKeys.SystemRandom;
}

/// <summary>
/// The sans-IO contract between a QUIC connection and its TLS 1.3 handshake (RFC 9001 §4). The QUIC side
/// feeds reassembled, in-order CRYPTO stream bytes per level and drains ordered outputs. Errors are thrown
/// as <see cref="CryptoException"/> whose <see cref="CryptoException.Alert"/> gives the TLS alert; QUIC
/// closes with CRYPTO_ERROR (0x100 + alert).
/// </summary>
public interface IQuicTlsHandshake
{
    /// <summary>Client: queues the ClientHello. Server: does nothing.</summary>
    void Start();

    /// <summary>Feeds received handshake bytes of one level (any split; the engine buffers partial messages up to a limit).</summary>
    void ProcessCryptoData(TlsEncryptionLevel level, ReadOnlySpan<byte> data);

    /// <summary>Takes the next output in order; false when none is pending.</summary>
    bool TryGetOutput(out TlsOutput output);

    /// <summary>True once the handshake completed.</summary>
    bool IsHandshakeComplete { get; }

    /// <summary>The peer's encoded transport parameters (available once the peer's hello/EE was processed).</summary>
    ReadOnlyMemory<byte> PeerTransportParameters { get; }

    /// <summary>The negotiated ALPN protocol, or null.</summary>
    string? NegotiatedApplicationProtocol { get; }

    /// <summary>The negotiated cipher suite (valid once handshake keys exist).</summary>
    Tls13CipherSuite CipherSuite { get; }

    /// <summary>The peer's certificate, when it sent one.</summary>
    X509Certificate2? PeerCertificate { get; }

    /// <summary>The server name the client sent (server side), or null.</summary>
    string? ServerName { get; }
}
