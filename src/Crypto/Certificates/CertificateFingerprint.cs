using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OspBridge.Crypto.Certificates;

/// <summary>
/// The one certificate-fingerprint helper. Two things get hashed, always with a named algorithm:
/// <list type="bullet">
/// <item><see cref="OfSpki(X509Certificate2, HashAlgorithmName)"/>: the DER SubjectPublicKeyInfo — the OSP agent
/// fingerprint (SHA-256, base64) and Chromium's <c>--ignore-certificate-errors-spki-list</c>;</item>
/// <item><see cref="OfCertificate(X509Certificate2, HashAlgorithmName)"/>: the whole certificate DER — SDP's
/// <c>a=fingerprint</c> (RFC 8122 §5) checked by DTLS.</item>
/// </list>
/// SDP hash names (<c>sha-1</c>, <c>sha-256</c>, <c>sha-384</c>, <c>sha-512</c>) map to <see cref="HashAlgorithmName"/>
/// with <see cref="TryGetAlgorithm"/>.
/// </summary>
public static class CertificateFingerprint
{
    /// <summary>Hash of the DER SubjectPublicKeyInfo of <paramref name="certificate"/>.</summary>
    public static byte[] OfSpki(X509Certificate2 certificate, HashAlgorithmName algorithm)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Hash(algorithm, certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }

    /// <summary>Hash of a DER SubjectPublicKeyInfo.</summary>
    public static byte[] OfSpki(ReadOnlySpan<byte> subjectPublicKeyInfo, HashAlgorithmName algorithm) => Hash(algorithm, subjectPublicKeyInfo);

    /// <summary>Hash of the whole certificate DER (<see cref="X509Certificate.GetRawCertData"/>).</summary>
    public static byte[] OfCertificate(X509Certificate2 certificate, HashAlgorithmName algorithm)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Hash(algorithm, certificate.RawData);
    }

    /// <summary>Hash of a DER certificate.</summary>
    public static byte[] OfCertificate(ReadOnlySpan<byte> certificateDer, HashAlgorithmName algorithm) => Hash(algorithm, certificateDer);

    /// <summary>The SDP <c>a=fingerprint</c> value of a certificate, e.g. <c>"sha-256 AB:CD:…"</c>.</summary>
    /// <exception cref="CryptoException"><paramref name="sdpAlgorithm"/> is not a supported SDP hash name.</exception>
    public static string ToSdp(X509Certificate2 certificate, string sdpAlgorithm = "sha-256")
    {
        ArgumentNullException.ThrowIfNull(sdpAlgorithm);
        if (!TryGetAlgorithm(sdpAlgorithm, out var alg))
            throw new CryptoException(CryptoError.HandshakeFailure, "unsupported fingerprint hash " + sdpAlgorithm);
        return sdpAlgorithm.ToLowerInvariant() + " " + FormatHex(OfCertificate(certificate, alg));
    }

    /// <summary>
    /// True when <paramref name="sdpFingerprint"/> (<c>"&lt;hash-func&gt; &lt;hex:pairs&gt;"</c>, as in <c>a=fingerprint</c>;
    /// case-insensitive) is the fingerprint of <paramref name="certificate"/>. Compared in constant time.
    /// </summary>
    public static bool MatchesSdp(X509Certificate2 certificate, string? sdpFingerprint)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (string.IsNullOrWhiteSpace(sdpFingerprint)) return false;
        var parts = sdpFingerprint.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !TryGetAlgorithm(parts[0], out var alg) || !TryParseHex(parts[1].Trim(), out var given)) return false;
        var expected = OfCertificate(certificate, alg);
        return given.Length == expected.Length && CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>Maps an SDP hash function name (RFC 8122 §5, case-insensitive) to the algorithm.</summary>
    public static bool TryGetAlgorithm(string sdpAlgorithm, out HashAlgorithmName algorithm)
    {
        algorithm = sdpAlgorithm?.ToLowerInvariant() switch
        {
            "sha-1" => HashAlgorithmName.SHA1,
            "sha-256" => HashAlgorithmName.SHA256,
            "sha-384" => HashAlgorithmName.SHA384,
            "sha-512" => HashAlgorithmName.SHA512,
            _ => default,
        };
        return algorithm != default;
    }

    /// <summary>Upper-case hex pairs separated by colons (the SDP fingerprint form).</summary>
    public static string FormatHex(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length * 3);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i > 0) sb.Append(':');
            sb.Append(bytes[i].ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>Parses colon-separated hex pairs (either case); false when malformed or longer than 64 octets.</summary>
    public static bool TryParseHex(string text, out byte[] bytes)
    {
        bytes = [];
        if (text is null || text.Length > 64 * 3) return false;
        var parts = text.Split(':');
        var result = new byte[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out result[i])) return false;
        bytes = result;
        return true;
    }

    /// <summary>The one hasher: SHA-1 (legal in SDP, comparison only), SHA-256, SHA-384 or SHA-512 of <paramref name="data"/>.</summary>
    /// <exception cref="CryptoException">Another algorithm.</exception>
    public static byte[] Hash(HashAlgorithmName algorithm, ReadOnlySpan<byte> data)
    {
#pragma warning disable CA5350 // sha-1 fingerprints are still legal in SDP (RFC 8122); only used for comparison
        if (algorithm == HashAlgorithmName.SHA1) return SHA1.HashData(data);
#pragma warning restore CA5350
        if (algorithm == HashAlgorithmName.SHA256) return SHA256.HashData(data);
        if (algorithm == HashAlgorithmName.SHA384) return SHA384.HashData(data);
        if (algorithm == HashAlgorithmName.SHA512) return SHA512.HashData(data);
        throw new CryptoException(CryptoError.InvalidState, "unsupported fingerprint hash " + algorithm.Name);
    }
}
