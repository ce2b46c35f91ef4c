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

    /// <summary>
    /// Creates a self-signed ECDSA P-256 certificate with its private key (CN and DNS SAN = <paramref name="subjectName"/>),
    /// valid from one minute ago for <paramref name="validity"/> (default 13 days, within WebTransport's 14-day rule).
    /// </summary>
    public static X509Certificate2 CreateSelfSignedCertificate(string subjectName = "localhost", TimeSpan? validity = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=" + subjectName, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(subjectName);
        req.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        using var cert = req.CreateSelfSigned(now.AddMinutes(-1), now.Add(validity ?? TimeSpan.FromDays(13)));
        // Round-trip through PKCS#12 so the key is usable everywhere (some platforms keep ephemeral keys unusable).
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
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

    /// <summary>SHA-256 of the DER SubjectPublicKeyInfo (what OSP pins and Chromium's --ignore-certificate-errors-spki-list takes, base64).</summary>
    public static byte[] SpkiSha256(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }
}
