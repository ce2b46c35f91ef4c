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
