using System.Globalization;
using System.Text;

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
        var parts = hex.Split(':');
        if (parts.Length is < 16 or > 64) return false;
        var bytes = new byte[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, null, out bytes[i])) return false;
        fingerprint = new SdpFingerprint(alg, bytes);
        return true;
    }

    /// <summary>True when both name the same algorithm and digest.</summary>
    public bool Matches(string algorithm, ReadOnlySpan<byte> digest) =>
        string.Equals(Algorithm, algorithm, StringComparison.OrdinalIgnoreCase) && digest.SequenceEqual(Value);

    /// <summary><c>sha-256 AB:CD:...</c> with upper-case hex.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(Algorithm.Length + Value.Length * 3);
        sb.Append(Algorithm).Append(' ');
        for (int i = 0; i < Value.Length; i++)
        {
            if (i > 0) sb.Append(':');
            sb.Append(Value[i].ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>The SHA-256 fingerprint of a DER certificate.</summary>
    public static SdpFingerprint Sha256(ReadOnlySpan<byte> certificateDer) =>
        new("sha-256", System.Security.Cryptography.SHA256.HashData(certificateDer));
}
