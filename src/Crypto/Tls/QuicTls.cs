using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>Entry points of the TLS 1.3 engine for QUIC, plus RFC 9001 key helpers and test certificates.</summary>
public static class QuicTls
{
    /// <summary>Creates a client or server handshake (by <see cref="QuicTlsOptions.IsClient"/>).</summary>
    public static IQuicTlsHandshake Create(QuicTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.IsClient ? new TlsClientHandshake(options) : new TlsServerHandshake(options);
    }

    /// <summary>The hash of a cipher suite (SHA-384 for AES-256-GCM, else SHA-256).</summary>
    public static HashAlgorithmName HashAlgorithm(Tls13CipherSuite suite) => TlsKeySchedule.HashFor(suite);

    /// <summary>QUIC key update (RFC 9001 §6.1): next secret = HKDF-Expand-Label(secret, "quic ku", "", Hash.length).</summary>
    public static byte[] NextKeyUpdateSecret(Tls13CipherSuite suite, ReadOnlySpan<byte> secret)
    {
        var hash = TlsKeySchedule.HashFor(suite);
        return HkdfLabel.ExpandLabel(hash, secret, "quic ku", [], hash == HashAlgorithmName.SHA384 ? 48 : 32);
    }

    /// <summary>Loads a certificate and its private key from PEM files (cert, key).</summary>
    public static X509Certificate2 LoadPemCertificate(string certPemPath, string keyPemPath)
    {
        try
        {
            using var cert = X509Certificate2.CreateFromPemFile(certPemPath, keyPemPath);
            return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException e)
        {
            throw new CryptoException(CryptoError.CorruptState, $"cannot load certificate {certPemPath} / key {keyPemPath}: {e.Message}", 0, e);
        }
    }
}
