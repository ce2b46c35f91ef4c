using System.Security.Cryptography;
using OspBridge.Crypto.Tls;

namespace OspBridge.Quic.Protection;

/// <summary>Parameters of a TLS 1.3 cipher suite as used by QUIC packet protection.</summary>
internal readonly record struct QuicCipherSuite(Tls13CipherSuite Suite, int KeyLength, HashAlgorithmName Hash, int HashLength, int IvLength = 12)
{
    public bool IsChaCha => Suite == Tls13CipherSuite.ChaCha20Poly1305Sha256;

    /// <summary>TLS_AEGIS_128L_SHA256: AEGIS-128L packet protection, AEGIS header protection, 16-byte IV/nonce.</summary>
    public bool IsAegis => Suite == Tls13CipherSuite.Aegis128LSha256;

    public static QuicCipherSuite From(Tls13CipherSuite suite) => suite switch
    {
        Tls13CipherSuite.Aes128GcmSha256 => new(suite, 16, HashAlgorithmName.SHA256, 32),
        Tls13CipherSuite.Aes256GcmSha384 => new(suite, 32, HashAlgorithmName.SHA384, 48),
        Tls13CipherSuite.ChaCha20Poly1305Sha256 => new(suite, 32, HashAlgorithmName.SHA256, 32),
        Tls13CipherSuite.Aegis128LSha256 when Crypto.Aead.Aegis128L.IsSupported => new(suite, 16, HashAlgorithmName.SHA256, 32, Crypto.Aead.Aegis128L.NonceLength),
        _ => throw QuicException.Transport(TransportErrorCode.InternalError, "unsupported cipher suite " + suite),
    };

    /// <summary>
    /// Packets one key may protect (RFC 9001 §6.6): 2^23 for AES-GCM; ChaCha20-Poly1305's limit exceeds the packet
    /// number space, so there is none. AEGIS-128L (no QUIC limit published; RFC 10032 allows 2^48 messages even with
    /// random nonces) takes AES-GCM's, the stricter: more key updates than needed, never fewer.
    /// </summary>
    public long ConfidentialityLimit => IsChaCha ? long.MaxValue : 1L << 23;

    /// <summary>Received packets failing authentication a connection tolerates across all keys (RFC 9001 §6.6; AEGIS-128L: AES-GCM's).</summary>
    public long IntegrityLimit => IsChaCha ? 1L << 36 : 1L << 52;

    /// <summary>Initial packets always use AES-128-GCM with SHA-256 (RFC 9001 §5.2).</summary>
    public static QuicCipherSuite Initial => From(Tls13CipherSuite.Aes128GcmSha256);
}
