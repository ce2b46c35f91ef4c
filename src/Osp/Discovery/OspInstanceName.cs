using System.Text;
using OspBridge.Net.Mdns;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// The DNS-SD instance name of an OSP agent (Open Screen Network Protocol §Discovery): a prefix of the
/// display name, at most 63 UTF-8 octets; when the display name had to be truncated the instance name
/// ends with a NUL character (<c>\0</c>) so listeners know it is incomplete. Truncation never splits a
/// UTF-8 character (or a grapheme cluster).
/// </summary>
public static class OspInstanceName
{
    /// <summary>The truncation marker.</summary>
    public const char TruncationMarker = '\0';

    /// <summary>The instance name for a display name.</summary>
    public static string FromDisplayName(string displayName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(displayName);
        displayName = displayName.Trim().Replace("\0", "", StringComparison.Ordinal);
        if (Encoding.UTF8.GetByteCount(displayName) <= 63) return displayName;
        return MdnsServiceRegistration.Utf8Prefix(displayName, 62) + TruncationMarker;
    }

    /// <summary>Prefix of private instance names (<see cref="CreatePrivate"/>).</summary>
    public const string PrivatePrefix = "private-";

    /// <summary>Random characters after <see cref="PrivatePrefix"/> (base32, 5 bits each: 50 bits).</summary>
    public const int PrivateRandomLength = 10;

    private const string Base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>
    /// A private instance name (docs/trust.md "Private instance names"): <c>private-</c> and 10 random base32
    /// characters from <paramref name="random"/> (default: the system CSPRNG). An agent that keeps its real name off
    /// the LAN advertises under a new one at every start; its real name goes only to authenticated peers (agent-info).
    /// </summary>
    public static string CreatePrivate(System.Security.Cryptography.RandomNumberGenerator? random = null)
    {
        Span<byte> bytes = stackalloc byte[PrivateRandomLength];
        if (random is null) System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        else random.GetBytes(bytes);
        Span<char> chars = stackalloc char[PrivateRandomLength];
        for (int i = 0; i < bytes.Length; i++) chars[i] = Base32Alphabet[bytes[i] & 31];
        return PrivatePrefix + new string(chars);
    }

    /// <summary>
    /// True when <paramref name="instanceName"/> has the form of a private instance name (also after an mDNS
    /// rename, "private-… (2)"): it says nothing about the agent, so it is neither recorded as the peer's name
    /// nor compared with trusted names, and nobody looks the agent up by it.
    /// </summary>
    public static bool IsPrivate(string? instanceName)
    {
        if (instanceName is null || !instanceName.StartsWith(PrivatePrefix, StringComparison.Ordinal)) return false;
        var rest = instanceName.AsSpan(PrivatePrefix.Length);
        if (rest.Length < PrivateRandomLength) return false;
        foreach (char c in rest[..PrivateRandomLength])
        {
            if (!Base32Alphabet.Contains(c, StringComparison.Ordinal)) return false;
        }
        rest = rest[PrivateRandomLength..];
        return rest.IsEmpty || (rest.Length >= 4 && rest.StartsWith(" (") && rest.EndsWith(")") && int.TryParse(rest[2..^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _));
    }

    /// <summary>True when the instance name is marked as truncated.</summary>
    public static bool IsTruncated(string instanceName) => instanceName.EndsWith(TruncationMarker);

    /// <summary>The name without the truncation marker (for display).</summary>
    public static string WithoutMarker(string instanceName) => instanceName.TrimEnd(TruncationMarker);

    /// <summary>
    /// The n-th alternative after an mDNS conflict (RFC 6762 §9): "Front Door" → "Front Door (2)". A truncated
    /// name stays marked: the prefix is shortened so that prefix + " (n)" + NUL fits in 63 octets. The spec
    /// does not say how to combine renaming with truncation; this keeps the marker last.
    /// </summary>
    public static string Rename(string instanceName, int n)
    {
        string suffix = $" ({n})";
        bool truncated = IsTruncated(instanceName);
        string baseName = WithoutMarker(instanceName);
        int room = 63 - Encoding.UTF8.GetByteCount(suffix) - (truncated ? 1 : 0);
        if (!truncated && Encoding.UTF8.GetByteCount(baseName) > room)
        {
            truncated = true;
            room--;
        }
        return MdnsServiceRegistration.Utf8Prefix(baseName, room) + suffix + (truncated ? TruncationMarker.ToString() : "");
    }
}
