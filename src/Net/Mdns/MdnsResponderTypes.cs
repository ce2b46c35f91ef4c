using System.Text;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>Timing and TTL settings of a <see cref="MdnsResponder"/> (defaults per RFC 6762).</summary>
public sealed record MdnsResponderOptions
{
    /// <summary>
    /// Randomness for jitter (probe delay, answer aggregation, query and refresh timing). Null = a
    /// cryptographic generator; tests pass a seeded one.
    /// </summary>
    public System.Security.Cryptography.RandomNumberGenerator? Random { get; init; }

    /// <summary>
    /// Where multicast goes: one transmit per destination (224.0.0.251:5353 and/or [ff02::fb]:5353 — the
    /// families the driver has sockets for). Default: IPv4 only.
    /// </summary>
    public IReadOnlyList<System.Net.IPEndPoint> MulticastDestinations { get; init; } = [MdnsConstants.IPv4EndPoint];

    /// <summary>TTL of records about a host (A, AAAA, SRV, NSEC): 120 s (RFC 6762 §10).</summary>
    public TimeSpan HostRecordTtl { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>TTL of other records (PTR, TXT): 75 min (RFC 6762 §10).</summary>
    public TimeSpan OtherRecordTtl { get; init; } = TimeSpan.FromMinutes(75);

    /// <summary>Interval between probes (250 ms) and the most random delay before the first one.</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Number of probes (3).</summary>
    public int ProbeCount { get; init; } = 3;

    /// <summary>Number of announcements (2, the first right after probing, then 1 s, 2 s ... apart).</summary>
    public int AnnounceCount { get; init; } = 2;

    /// <summary>Interval between the first two announcements (doubles after that).</summary>
    public TimeSpan AnnounceInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A record is multicast at most once per this interval per interface (1 s; probe defence: 250 ms).</summary>
    public TimeSpan RateLimit { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>A DNS-SD service to advertise.</summary>
/// <param name="InstanceName">The instance label (user-visible name, ≤ 63 UTF-8 octets), e.g. "Front Door".</param>
/// <param name="ServiceType">The service type with domain, e.g. <c>_openscreen._udp.local</c>.</param>
/// <param name="HostName">Target host of the SRV record (publish it with <see cref="MdnsResponder.AddHost"/>).</param>
/// <param name="Port">Port of the SRV record.</param>
/// <param name="Txt">TXT key/value pairs.</param>
public sealed record MdnsServiceRegistration(string InstanceName, DnsName ServiceType, DnsName HostName, ushort Port, TxtProperties Txt)
{
    /// <summary>
    /// Makes the n-th alternative instance name (n = 2, 3, ...) after a conflict. Default: "Name (n)",
    /// the base shortened (UTF-8 safe) so that the label stays ≤ 63 octets.
    /// </summary>
    public Func<string, int, string>? Renamer { get; init; }

    /// <summary>The default renamer: "Front Door" → "Front Door (2)".</summary>
    public static string DefaultRename(string baseName, int n)
    {
        string suffix = $" ({n})";
        return Utf8Prefix(baseName, DnsName.MaxLabelLength - Encoding.UTF8.GetByteCount(suffix)) + suffix;
    }

    /// <summary>The longest prefix of <paramref name="s"/> that is at most <paramref name="maxBytes"/> UTF-8 octets, never splitting a character.</summary>
    public static string Utf8Prefix(string s, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(s) <= maxBytes) return s;
        int bytes = 0;
        var e = System.Globalization.StringInfo.GetTextElementEnumerator(s);
        var sb = new StringBuilder();
        while (e.MoveNext())
        {
            string el = (string)e.Current;
            int n = Encoding.UTF8.GetByteCount(el);
            if (bytes + n > maxBytes) break;
            bytes += n;
            sb.Append(el);
        }
        return sb.ToString();
    }
}

/// <summary>What happened to a responder registration.</summary>
public enum MdnsResponderEventKind
{
    /// <summary>Probing succeeded and the records were announced for the first time under <see cref="MdnsResponderEvent.Name"/>.</summary>
    Established,
    /// <summary>A conflict forced a new name (<see cref="MdnsResponderEvent.PreviousName"/> → <see cref="MdnsResponderEvent.Name"/>); probing restarts.</summary>
    Renamed,
    /// <summary>A conflict with an already announced record was seen; probing restarts.</summary>
    Conflict,
}

/// <summary>An event of a <see cref="MdnsResponder"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="RegistrationId">The id returned by <see cref="MdnsResponder.AddService"/> or <see cref="MdnsResponder.AddHost"/>.</param>
/// <param name="Name">The (possibly new) unique name: instance full name or host name.</param>
/// <param name="PreviousName">For <see cref="MdnsResponderEventKind.Renamed"/>: the old name.</param>
public sealed record MdnsResponderEvent(MdnsResponderEventKind Kind, int RegistrationId, DnsName Name, DnsName? PreviousName = null);
