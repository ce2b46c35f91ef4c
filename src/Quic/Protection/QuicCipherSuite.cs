using System.Security.Cryptography;
using OspBridge.Crypto.Tls;

namespace OspBridge.Quic.Protection;

/// <summary>Parameters of a TLS 1.3 cipher suite as used by QUIC packet protection.</summary>
internal readonly record struct QuicCipherSuite(Tls13CipherSuite Suite, int KeyLength, HashAlgorithmName Hash, int HashLength)
{
    public bool IsChaCha => Suite == Tls13CipherSuite.ChaCha20Poly1305Sha256;

    public static QuicCipherSuite From(Tls13CipherSuite suite) => suite switch
    {
        Tls13CipherSuite.Aes128GcmSha256 => new(suite, 16, HashAlgorithmName.SHA256, 32),
        Tls13CipherSuite.Aes256GcmSha384 => new(suite, 32, HashAlgorithmName.SHA384, 48),
        Tls13CipherSuite.ChaCha20Poly1305Sha256 => new(suite, 32, HashAlgorithmName.SHA256, 32),
        _ => throw QuicException.Transport(TransportErrorCode.InternalError, "unsupported cipher suite " + suite),
    };

    /// <summary>
    /// Packets one key may protect (RFC 9001 §6.6): 2^23 for AES-GCM; ChaCha20-Poly1305's limit exceeds the packet
    /// number space, so there is none.
    /// </summary>
    public long ConfidentialityLimit => IsChaCha ? long.MaxValue : 1L << 23;

    /// <summary>Received packets failing authentication a connection tolerates across all keys (RFC 9001 §6.6).</summary>
    public long IntegrityLimit => IsChaCha ? 1L << 36 : 1L << 52;

    /// <summary>Initial packets always use AES-128-GCM with SHA-256 (RFC 9001 §5.2).</summary>
    public static QuicCipherSuite Initial => From(Tls13CipherSuite.Aes128GcmSha256);
}
