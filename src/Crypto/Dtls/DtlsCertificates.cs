using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OspBridge.Crypto.Dtls;

/// <summary>WebRTC-style certificates: self-signed ECDSA P-256 and SDP fingerprints (RFC 8122 §5).</summary>
public static class DtlsCertificates
{
    /// <summary>
    /// Creates a self-signed ECDSA P-256 certificate with its private key, like browsers do for RTCPeerConnection
    /// (random serial, CN=<paramref name="commonName"/>, valid from one day ago for <paramref name="validity"/>, default 30 days).
    /// </summary>
    public static X509Certificate2 CreateSelfSigned(string commonName = "WebRTC", TimeSpan? validity = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(new X500DistinguishedName("CN=" + commonName), key, HashAlgorithmName.SHA256);
        var serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7F;
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        using var cert = req.Create(req.SubjectName, X509SignatureGenerator.CreateForECDsa(key), notBefore, notBefore + (validity ?? TimeSpan.FromDays(30)) + TimeSpan.FromDays(1), serial);
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>The SDP fingerprint of a certificate, e.g. <c>"sha-256 AB:CD:…"</c> (hash of the DER encoding).</summary>
    public static string GetFingerprint(X509Certificate2 certificate, string algorithm = "sha-256")
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var hash = Hash(algorithm, certificate.RawData)
            ?? throw new CryptoException(CryptoError.HandshakeFailure, "unsupported fingerprint hash " + algorithm);
        return algorithm.ToLowerInvariant() + " " + FormatHex(hash);
    }

    /// <summary>Formats bytes as upper-case hex pairs separated by colons (the SDP fingerprint form).</summary>
    public static string FormatHex(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length * 3);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i > 0) sb.Append(':');
            sb.Append(bytes[i].ToString("X2"));
        }
        return sb.ToString();
    }

    /// <summary>
    /// True when <paramref name="fingerprint"/> (<c>"&lt;hash-func&gt; &lt;hex:pairs&gt;"</c>, as in <c>a=fingerprint</c>;
    /// case-insensitive) is the fingerprint of <paramref name="certificate"/>. Compared in constant time.
    /// </summary>
    public static bool MatchesFingerprint(X509Certificate2 certificate, string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (string.IsNullOrWhiteSpace(fingerprint)) return false;
        var parts = fingerprint.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2) return false;
        var expected = Hash(parts[0], certificate.RawData);
        if (expected is null) return false;
        var hex = parts[1].Trim().Split(':');
        if (hex.Length != expected.Length) return false;
        var given = new byte[hex.Length];
        for (int i = 0; i < hex.Length; i++)
        {
            if (hex[i].Length != 2 || !byte.TryParse(hex[i], System.Globalization.NumberStyles.HexNumber, null, out given[i])) return false;
        }
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    private static byte[]? Hash(string algorithm, byte[] data) => algorithm.ToLowerInvariant() switch
    {
#pragma warning disable CA5350 // sha-1 fingerprints are still legal in SDP (RFC 8122); only used for comparison
        "sha-1" => SHA1.HashData(data),
#pragma warning restore CA5350
        "sha-256" => SHA256.HashData(data),
        "sha-384" => SHA384.HashData(data),
        "sha-512" => SHA512.HashData(data),
        _ => null,
    };
}
