using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// Listens for OSP agents (<c>_openscreen._udp</c>) through an <see cref="MdnsService"/> and surfaces those
/// whose TXT record is valid (<see cref="OspTxt.TryParse"/>); malformed ones are ignored and logged once per
/// change. Events are raised on the mDNS loop: handlers must be quick.
/// </summary>
public sealed class OspAgentBrowser : IDisposable
{
    private readonly MdnsService _mdns;
    private readonly ILogger _logger;
    private readonly Dictionary<string, OspAgentInfo> _agents = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly List<DnsName> _resolving = [];

    /// <summary>Creates a browser over a running mDNS service (not owned).</summary>
    /// <param name="mdns">The mDNS service to browse with.</param>
    /// <param name="logger">Receives a warning for each malformed advertisement ignored.</param>
    public OspAgentBrowser(MdnsService mdns, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(mdns);
        _mdns = mdns;
        _logger = logger ?? NullLogger.Instance;
        _mdns.ServiceChanged += OnChanged;
    }

    /// <summary>An agent appeared.</summary>
    public event Action<OspAgentInfo>? AgentAdded;

    /// <summary>An agent's port, addresses or TXT changed (e.g. <c>mv</c> bumped).</summary>
    public event Action<OspAgentInfo>? AgentUpdated;

    /// <summary>An agent left (goodbye or TTL expiry), or its TXT became invalid.</summary>
    public event Action<OspAgentInfo>? AgentRemoved;

    /// <summary>Malformed advertisements ignored so far.</summary>
    public int RejectedCount { get; private set; }

    /// <summary>The agents currently known.</summary>
    public IReadOnlyList<OspAgentInfo> Agents
    {
        get { lock (_gate) return _agents.Values.ToList(); }
    }

    /// <summary>Starts browsing.</summary>
    /// <param name="cancellationToken">Stops waiting for the mDNS loop to take the query.</param>
    public Task StartAsync(CancellationToken cancellationToken = default) =>
        _mdns.BrowseAsync(OspDiscovery.ServiceType, cancellationToken);

    /// <summary>
    /// Starts browsing and also asks directly for the given instance names (what the user typed, or a trusted peer's
    /// last name): their SRV/TXT records are unique, so the agent answers at once instead of after the 20–120 ms
    /// delay of the shared PTR answer (RFC 6762 §6). Names that are not valid instance labels are skipped.
    /// </summary>
    /// <param name="instanceNames">Expected DNS-SD instance names (<see cref="OspInstanceName.FromDisplayName"/> of a display name).</param>
    /// <param name="cancellationToken">Stops waiting for the mDNS loop to take the queries.</param>
    public async Task StartAsync(IEnumerable<string> instanceNames, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instanceNames);
        await _mdns.BrowseAsync(OspDiscovery.ServiceType, cancellationToken).ConfigureAwait(false);
        foreach (string name in instanceNames.Distinct(StringComparer.Ordinal))
        {
            DnsName full;
            try
            {
                full = OspDiscovery.ServiceType.Prepend(name);
            }
            catch (Exception ex) when (ex is ArgumentException or Net.NetException)
            {
                continue;
            }

            lock (_gate) _resolving.Add(full);
            await _mdns.ResolveInstanceAsync(full, cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnChanged(MdnsQuerierEvent e)
    {
        var s = e.Service!;
        if (s.ServiceType != OspDiscovery.ServiceType) return;
        string key = s.FullName.ToString();
        OspAgentInfo? info = null;
        if (e.Kind != MdnsQuerierEventKind.ServiceRemoved)
        {
            var txt = OspTxt.TryParse(s.Txt.Properties, out string? error);
            if (txt is null)
            {
                RejectedCount++;
                _logger.LogWarning("osp discovery: ignoring '{Instance}' at {Host}:{Port}: {Reason}", s.InstanceName, s.HostName, s.Port, error);
            }
            else
            {
                info = new OspAgentInfo(s.InstanceName, s.HostName.ToString(), s.Port, s.Addresses, txt);
            }
        }
        OspAgentInfo? old;
        lock (_gate)
        {
            _agents.TryGetValue(key, out old);
            if (info is null) _agents.Remove(key);
            else _agents[key] = info;
        }
        if (old is null && info is not null) AgentAdded?.Invoke(info);
        else if (old is not null && info is null) AgentRemoved?.Invoke(old);
        else if (old is not null && info is not null) AgentUpdated?.Invoke(info);
    }

    /// <summary>Stops surfacing events.</summary>
    public void Dispose()
    {
        _mdns.ServiceChanged -= OnChanged;
        List<DnsName> resolving;
        lock (_gate)
        {
            resolving = [.. _resolving];
            _resolving.Clear();
        }

        foreach (var name in resolving)
        {
            _ = _mdns.StopResolveInstanceAsync(name).ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }
}
