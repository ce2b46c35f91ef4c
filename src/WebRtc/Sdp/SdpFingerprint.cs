using System.Security.Cryptography;
using OspBridge.Crypto.Certificates;

namespace OspBridge.WebRtc.Sdp;

/// <summary>
/// A certificate fingerprint attribute (RFC 8122 §5): <c>a=fingerprint:&lt;hash-func&gt; &lt;HH:HH:...&gt;</c>.
/// WebRTC uses <c>sha-256</c>; comparison is case-insensitive in the hash name and the hex digits.
/// </summary>
/// <param name="Algorithm">Hash function name in lower case, e.g. <c>sha-256</c>.</param>
/// <param name="Value">The digest bytes.</param>
public sealed record SdpFingerprint(string Algorithm, byte[] Value)
{
    /// <summary>Parses <c>sha-256 AB:CD:...</c>; false when malformed.</summary>
    public static bool TryParse(string? text, out SdpFingerprint? fingerprint)
    {
        fingerprint = null;
        if (text is null) return false;
        int sp = text.IndexOf(' ', StringComparison.Ordinal);
        if (sp <= 0 || text.Length > 1024) return false;
        string alg = text[..sp].ToLowerInvariant();
        string hex = text[(sp + 1)..].Trim();
        if (!CertificateFingerprint.TryParseHex(hex, out var bytes) || bytes.Length is < 16 or > 64) return false;
        fingerprint = new SdpFingerprint(alg, bytes);
        return true;
    }

    /// <summary>True when both name the same algorithm and digest.</summary>
    public bool Matches(string algorithm, ReadOnlySpan<byte> digest) =>
        string.Equals(Algorithm, algorithm, StringComparison.OrdinalIgnoreCase) && digest.SequenceEqual(Value);

    /// <summary><c>sha-256 AB:CD:...</c> with upper-case hex.</summary>
    public override string ToString() => Algorithm + " " + CertificateFingerprint.FormatHex(Value);

    /// <summary>The SHA-256 fingerprint of a DER certificate (see <see cref="CertificateFingerprint"/>, which DTLS checks it with).</summary>
    public static SdpFingerprint Sha256(ReadOnlySpan<byte> certificateDer) =>
        new("sha-256", CertificateFingerprint.OfCertificate(certificateDer, HashAlgorithmName.SHA256));
}
