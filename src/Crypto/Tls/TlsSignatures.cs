using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Tls;

/// <summary>CertificateVerify signing and verification (RFC 8446 §4.4.3).</summary>
internal static class TlsSignatures
{
    private static readonly byte[] ServerContext = "TLS 1.3, server CertificateVerify"u8.ToArray();
    private static readonly byte[] ClientContext = "TLS 1.3, client CertificateVerify"u8.ToArray();

    /// <summary>64 spaces || context string || 0x00 || transcript hash.</summary>
    public static byte[] Content(bool server, ReadOnlySpan<byte> transcriptHash)
    {
        var ctx = server ? ServerContext : ClientContext;
        var c = new byte[64 + ctx.Length + 1 + transcriptHash.Length];
        c.AsSpan(0, 64).Fill(0x20);
        ctx.CopyTo(c, 64);
        transcriptHash.CopyTo(c.AsSpan(64 + ctx.Length + 1));
        return c;
    }

    private static HashAlgorithmName HashOf(ushort scheme) => scheme switch
    {
        SignatureScheme.EcdsaSecp256r1Sha256 or SignatureScheme.RsaPssRsaeSha256 => HashAlgorithmName.SHA256,
        SignatureScheme.EcdsaSecp384r1Sha384 or SignatureScheme.RsaPssRsaeSha384 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    /// <summary>The schemes a certificate's key can produce, best first.</summary>
    public static ushort[] SchemesFor(X509Certificate2 cert)
    {
        using (var ec = cert.GetECDsaPublicKey())
        {
            if (ec is not null)
                return ec.KeySize switch
                {
                    256 => [SignatureScheme.EcdsaSecp256r1Sha256],
                    384 => [SignatureScheme.EcdsaSecp384r1Sha384],
                    521 => [SignatureScheme.EcdsaSecp521r1Sha512],
                    _ => [],
                };
        }
        using (var rsa = cert.GetRSAPublicKey())
        {
            if (rsa is not null)
                return [SignatureScheme.RsaPssRsaeSha256, SignatureScheme.RsaPssRsaeSha384, SignatureScheme.RsaPssRsaeSha512];
        }
        return [];
    }

    /// <summary>Picks the first scheme the peer accepts; null when none.</summary>
    public static ushort? Choose(X509Certificate2 cert, IReadOnlyList<ushort> peerSchemes)
    {
        foreach (var s in SchemesFor(cert))
            if (peerSchemes.Contains(s)) return s;
        return null;
    }

    public static byte[] Sign(X509Certificate2 cert, ushort scheme, byte[] content)
    {
        var hash = HashOf(scheme);
        using (var ec = cert.GetECDsaPrivateKey())
        {
            if (ec is not null) return ec.SignData(content, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        using (var rsa = cert.GetRSAPrivateKey())
        {
            if (rsa is not null) return rsa.SignData(content, hash, RSASignaturePadding.Pss);
        }
        throw new CryptoException(CryptoError.InvalidState, "certificate has no usable private key", TlsAlert.InternalError);
    }

    /// <summary>Verifies; illegal_parameter for a scheme we did not offer or that does not fit the key, decrypt_error for a bad signature.</summary>
    public static void Verify(X509Certificate2 cert, ushort scheme, ReadOnlySpan<byte> signature, byte[] content)
    {
        if (Array.IndexOf(SignatureScheme.Supported, scheme) < 0)
            throw TlsAlert.Illegal($"signature scheme 0x{scheme:x4} was not offered");
        var schemes = SchemesFor(cert);
        if (Array.IndexOf(schemes, scheme) < 0)
            throw TlsAlert.Illegal($"signature scheme 0x{scheme:x4} does not match the certificate key");
        bool ok;
        try
        {
            var hash = HashOf(scheme);
            using var ec = cert.GetECDsaPublicKey();
            if (ec is not null) ok = ec.VerifyData(content, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
            else
            {
                using var rsa = cert.GetRSAPublicKey();
                ok = rsa is not null && rsa.VerifyData(content, signature, hash, RSASignaturePadding.Pss);
            }
        }
        catch (CryptographicException)
        {
            ok = false;
        }
        if (!ok) throw new CryptoException(CryptoError.DecryptError, "CertificateVerify signature does not verify", TlsAlert.DecryptError);
    }

    /// <summary>Parses a DER certificate; bad_certificate on failure.</summary>
    public static X509Certificate2 LoadCertificate(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException e)
        {
            throw new CryptoException(CryptoError.BadCertificate, "peer certificate does not parse", TlsAlert.BadCertificate, e);
        }
    }
}
