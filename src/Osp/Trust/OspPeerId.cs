using System.Text;

namespace OspBridge.Osp.Trust;

/// <summary>
/// A peer's short, stable, URL-safe id, derived from its agent fingerprint:
/// <c>base32</c> (RFC 4648 §6 alphabet, lower-cased, no padding) of the first 10 bytes of the SHA-256 SPKI digest
/// (the 32 bytes the base64 fingerprint encodes) — 16 characters of <c>[a-z2-7]</c>, 80 bits. Lower-case base32
/// needs no escaping in URLs, file names, DNS labels or shells and survives case-insensitive handling; 80 bits
/// makes an accidental collision among a household's peers negligible (the fingerprint stays the identity;
/// the id only names it). Golden vectors: docs/trust.md.
/// </summary>
public static class OspPeerId
{
    /// <summary>Length of an id in characters.</summary>
    public const int Length = 16;

    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>The id of the agent with fingerprint <paramref name="fingerprint"/> (base64 SHA-256 of the SPKI, 44 characters).</summary>
    /// <exception cref="ArgumentException">The fingerprint is not base64 of 32 bytes.</exception>
    public static string FromFingerprint(string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        Span<byte> digest = stackalloc byte[32];
        if (fingerprint.Length != 44 || !Convert.TryFromBase64String(fingerprint, digest, out int n) || n != 32)
            throw new ArgumentException("an agent fingerprint is base64 of a 32-byte SHA-256 digest (44 characters)", nameof(fingerprint));
        return Base32(digest[..10]);
    }

    /// <summary>True when <paramref name="fingerprint"/> is a well-formed agent fingerprint (base64 of 32 bytes).</summary>
    public static bool IsFingerprint(string? fingerprint)
    {
        Span<byte> digest = stackalloc byte[33];
        return fingerprint is { Length: 44 } && Convert.TryFromBase64String(fingerprint, digest, out int n) && n == 32;
    }

    /// <summary>True when <paramref name="id"/> has the form of a peer id (16 characters of [a-z2-7]).</summary>
    public static bool IsId(string? id) => id is { Length: Length } && id.All(c => Alphabet.Contains(c, StringComparison.Ordinal));

    private static string Base32(ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) sb.Append(Alphabet[(buffer << (5 - bits)) & 31]);
        return sb.ToString();
    }
}
