using System.Net;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>Settings of a <see cref="MdnsQuerier"/>.</summary>
public sealed record MdnsQuerierOptions
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

    /// <summary>
    /// Most records cached on the interface (bounds memory: ≈ 0.5 KiB per record, docs/security.md). When full, a
    /// record from a source evicts the oldest record of the source holding the most, if that one holds more than the
    /// newcomer would (so flooders lose records to agents holding a few); otherwise it is dropped until some expire. An agent advertising one service costs about 4–6 records
    /// (PTR, SRV, TXT, A/AAAA), so the default holds ≈ 400 agents; a host that must see more (the bridge with N trusted
    /// devices) sizes it from that count (<see cref="ForAgents"/>).
    /// </summary>
    public int MaxCacheRecords { get; init; } = 2048;

    /// <summary>
    /// Most records cached from one responder (source address): the flood defence. One LAN host that floods answers
    /// holds at most this many records, and the source holding the most is the first to lose records when the cache is full.
    /// </summary>
    public int MaxRecordsPerResponder { get; init; } = 256;

    /// <summary>Records budgeted per expected agent by <see cref="ForAgents"/> (PTR, SRV, TXT, A, AAAA and slack for renames).</summary>
    public const int RecordsPerAgent = 8;

    /// <summary>
    /// These options with <see cref="MaxCacheRecords"/> sized for <paramref name="agents"/> agents on the link
    /// (<see cref="RecordsPerAgent"/> each), never below the default 2048; the per-responder bound is unchanged.
    /// </summary>
    public MdnsQuerierOptions ForAgents(int agents)
        => this with { MaxCacheRecords = (int)Math.Clamp((long)agents * RecordsPerAgent, 2048, int.MaxValue) };

    /// <summary>Interval after the first continuous query (doubles each time).</summary>
    public TimeSpan InitialQueryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest interval between continuous queries (60 min, RFC 6762 §5.2).</summary>
    public TimeSpan MaxQueryInterval { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary>
    /// Set the QU bit on the first query of a browse or host resolution (RFC 6762 §5.4 "SHOULD"). Off by
    /// default because unicast replies reach only one of several processes sharing port 5353 (§15.1).
    /// </summary>
    public bool UnicastFirstQuery { get; init; }

    /// <summary>Largest interval between queries that resolve an instance (SRV/TXT) or an SRV target's addresses.</summary>
    public TimeSpan MaxResolveInterval { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>A resolved DNS-SD service instance as seen on one interface.</summary>
/// <param name="FullName">Instance full name, e.g. <c>Front Door._openscreen._udp.local</c>.</param>
/// <param name="InstanceName">The instance label ("Front Door").</param>
/// <param name="ServiceType">The service type (<c>_openscreen._udp.local</c>).</param>
/// <param name="HostName">SRV target.</param>
/// <param name="Port">SRV port.</param>
/// <param name="Txt">The TXT record (raw strings; <see cref="TxtRecord.Properties"/> for key/value pairs).</param>
/// <param name="Addresses">Addresses of the host (IPv6 link-local ones carry the interface as scope id).</param>
/// <param name="InterfaceIndex">Interface the records were received on.</param>
public sealed record MdnsServiceInstance(DnsName FullName, string InstanceName, DnsName ServiceType, DnsName HostName,
    ushort Port, TxtRecord Txt, IReadOnlyList<IPAddress> Addresses, int InterfaceIndex)
{
    /// <summary>True when both describe the same state (addresses compared as sets).</summary>
    public bool SameState(MdnsServiceInstance other)
        => FullName == other.FullName && HostName == other.HostName && Port == other.Port && Txt.DataEquals(other.Txt)
           && Addresses.Count == other.Addresses.Count && Addresses.All(a => other.Addresses.Contains(a));
}

/// <summary>Kinds of <see cref="MdnsQuerierEvent"/>.</summary>
public enum MdnsQuerierEventKind
{
    /// <summary>A browsed instance became fully resolved (SRV, TXT and at least one address).</summary>
    ServiceAdded,
    /// <summary>A resolved instance changed (port, host, TXT or addresses).</summary>
    ServiceUpdated,
    /// <summary>An instance went away (goodbye, TTL expiry, or no longer resolvable).</summary>
    ServiceRemoved,
    /// <summary>The address set of a host being resolved changed (may become empty).</summary>
    HostAddressesChanged,
}

/// <summary>An event of a <see cref="MdnsQuerier"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Service">The instance (for service events; the last known state for removals).</param>
/// <param name="HostName">For host events: the name.</param>
/// <param name="Addresses">For host events: the current addresses.</param>
public sealed record MdnsQuerierEvent(MdnsQuerierEventKind Kind, MdnsServiceInstance? Service = null, DnsName? HostName = null, IReadOnlyList<IPAddress>? Addresses = null);
