using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.Core;
using OspBridge.Net.Dns;
using OspBridge.Net.IO;
using OspBridge.Net.Udp;

namespace OspBridge.Net.Mdns;

/// <summary>Settings of a <see cref="MdnsService"/>.</summary>
public sealed record MdnsServiceOptions
{
    /// <summary>
    /// Interface names to run on. Null/empty = every interface that is up, multicast-capable and not loopback.
    /// Naming <c>lo</c> explicitly enables IFF_MULTICAST on it when missing (needs CAP_NET_ADMIN).
    /// </summary>
    public IReadOnlyList<string>? Interfaces { get; init; }

    /// <summary>Use IPv4 (224.0.0.251).</summary>
    public bool UseIPv4 { get; init; } = true;

    /// <summary>Use IPv6 (ff02::fb).</summary>
    public bool UseIPv6 { get; init; } = true;

    /// <summary>Responder settings (TTLs, probing). Its <c>Random</c> and <c>MulticastDestinations</c> are set per link by the service.</summary>
    public MdnsResponderOptions Responder { get; init; } = new();

    /// <summary>Querier settings (cache bounds, back-off). Its <c>Random</c> and <c>MulticastDestinations</c> are set per link by the service.</summary>
    public MdnsQuerierOptions Querier { get; init; } = new();

    /// <summary>Randomness for every core's jitter; null = a cryptographic generator. Tests pass a seeded one.</summary>
    public RandomNumberGenerator? Random { get; init; }

    /// <summary>Opens the UDP sockets; null = <see cref="UdpSocketFactory.Default"/>.</summary>
    public IDatagramSocketFactory? SocketFactory { get; init; }

    /// <summary>Where the service logs (interfaces in use, renames, dropped input).</summary>
    public ILogger? Logger { get; init; }
}

/// <summary>
/// The mDNS / DNS-SD driver: binds UDP 5353 (IPv4 224.0.0.251 and IPv6 ff02::fb, shared with other
/// responders such as avahi) through the one socket abstraction (<see cref="IDatagramSocket"/>), runs one
/// <see cref="MdnsLinkCore"/> (responder + querier) per chosen interface as one composite core on one
/// <see cref="CoreLoop{TEvent}"/>, and merges what the queriers see across interfaces.
/// <para>
/// Sockets are created synchronously inside <see cref="Start"/>, so calling it on a thread that joined a
/// network namespace makes the whole service live in that namespace (or pass a
/// <see cref="MdnsServiceOptions.SocketFactory"/>). Time comes from the <see cref="TimeProvider"/>; cores
/// only see <c>now</c>. Events are raised on the loop: handlers must be quick and must not block.
/// </para>
/// </summary>
public sealed class MdnsService : IAsyncDisposable
{
    private const int MaxQueuedDatagrams = 1024;
    private readonly MdnsServiceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<Link> _links = [];
    private readonly List<IDatagramSocket> _sockets = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<DnsName, Dictionary<int, MdnsServiceInstance>> _merged = [];
    private readonly Dictionary<DnsName, List<TaskCompletionSource<IReadOnlyList<IPAddress>>>> _hostWaiters = [];
    private readonly Dictionary<int, Publication> _publications = [];
    private readonly List<Task> _tasks = [];
    private CoreLoop<MdnsLinkEvent>? _loop;
    private int _nextPublication = 1;
    private int _disposed;

    private MdnsService(MdnsServiceOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _logger = options.Logger ?? NullLogger.Instance;
    }

    /// <summary>Datagrams dropped because the loop was behind by more than 1024 datagrams.</summary>
    public long DroppedDatagrams => _loop?.DroppedDatagrams ?? 0;

    /// <summary>The interfaces in use.</summary>
    public IReadOnlyList<NetInterface> Interfaces => _links.Select(l => l.Interface).ToList();

    /// <summary>A browsed instance appeared, changed or went away (merged over interfaces: addresses are the union).</summary>
    public event Action<MdnsQuerierEvent>? ServiceChanged;

    /// <summary>A publication got a new name after a conflict (publication id, new name).</summary>
    public event Action<int, DnsName>? Renamed;

    /// <summary>Creates the sockets and starts the loop.</summary>
    public static MdnsService Start(MdnsServiceOptions? options = null, TimeProvider? time = null)
    {
        options ??= new MdnsServiceOptions();
        var svc = new MdnsService(options, time ?? TimeProvider.System);
        try
        {
            svc.Open();
        }
        catch
        {
            foreach (var s in svc._sockets) s.Dispose();
            throw;
        }
        return svc;
    }

    private void Open()
    {
        var all = NetInterfaces.GetAll();
        List<NetInterface> chosen;
        if (_options.Interfaces is { Count: > 0 } names)
        {
            chosen = [];
            foreach (string n in names)
            {
                var i = all.FirstOrDefault(x => x.Name == n) ?? throw new NetException(NetError.AddressUnavailable, $"no interface named '{n}'");
                if (!i.IsUp) throw new NetException(NetError.AddressUnavailable, $"interface '{n}' is down");
                if (!i.SupportsMulticast)
                {
                    NetInterfaces.EnableMulticast(n);
                    i = i with { SupportsMulticast = true };
                }
                chosen.Add(i);
            }
        }
        else
        {
            chosen = all.Where(i => i.IsUp && i.SupportsMulticast && !i.IsLoopback).ToList();
            if (chosen.Count == 0) throw new NetException(NetError.AddressUnavailable, "no multicast-capable interface is up");
        }
        var factory = _options.SocketFactory ?? UdpSocketFactory.Default;
        static bool Has(NetInterface i, AddressFamily f) => i.Addresses.Any(a => a.AddressFamily == f);
        bool v4 = _options.UseIPv4 && chosen.Any(i => Has(i, AddressFamily.InterNetwork));
        bool v6 = _options.UseIPv6 && Socket.OSSupportsIPv6 && chosen.Any(i => Has(i, AddressFamily.InterNetworkV6));
        if (v4) _sockets.Add(factory.Open(MulticastOptions(IPAddress.Any, MdnsConstants.IPv4Group, chosen.Where(i => Has(i, AddressFamily.InterNetwork)))));
        if (v6) _sockets.Add(factory.Open(MulticastOptions(IPAddress.IPv6Any, MdnsConstants.IPv6Group, chosen.Where(i => Has(i, AddressFamily.InterNetworkV6)))));
        if (_sockets.Count == 0) throw new NetException(NetError.AddressUnavailable, "no usable address family on the chosen interfaces");

        var rng = _options.Random ?? RandomNumberGenerator.Create();
        foreach (var i in chosen)
        {
            // Multicast leaves once per family the interface has a socket for, out of this interface.
            List<IPEndPoint> groups = [];
            if (v4 && Has(i, AddressFamily.InterNetwork)) groups.Add(MdnsConstants.IPv4EndPoint);
            if (v6 && Has(i, AddressFamily.InterNetworkV6)) groups.Add(MdnsConstants.IPv6EndPoint);
            var core = new MdnsLinkCore(i.Index,
                _options.Responder with { Random = _options.Responder.Random ?? rng, MulticastDestinations = groups },
                _options.Querier with { Random = _options.Querier.Random ?? rng, MulticastDestinations = groups });
            _links.Add(new Link(i, core));
        }
        _loop = new CoreLoop<MdnsLinkEvent>(new Composite(_links), new Sender(_sockets), OnEvent, new CoreLoopOptions
        {
            TimeProvider = _time,
            Logger = _logger,
            Name = "mdns",
            InboxCapacity = MaxQueuedDatagrams,
            MaxDatagramSize = DnsMessage.MaxMessageSize,
            SendBatchSize = 8,
        });
        _loop.Start();
        foreach (var s in _sockets)
            _tasks.Add(DatagramReceiver.RunAsync(s, Dispatch, _logger, batchSize: 8, slotSize: DnsMessage.MaxMessageSize, cancellationToken: _stop.Token));
        if (_logger.IsEnabled(LogLevel.Information))
            _logger.LogInformation("mdns: running on {Interfaces} ({Families})",
            string.Join(", ", chosen.Select(i => $"{i.Name}#{i.Index}")),
            string.Join("+", _sockets.Select(s => s.LocalEndPoint.AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6")));
    }

    private static UdpSocketOptions MulticastOptions(IPAddress any, IPAddress group, IEnumerable<NetInterface> interfaces) => new()
    {
        LocalEndPoint = new IPEndPoint(any, MdnsConstants.Port),
        ReuseAddress = true,
        ReceivePacketInfo = true,
        MulticastGroup = group,
        MulticastInterfaces = interfaces.Select(i => i.Index).ToList(),
        MulticastLoopback = true,
        HopLimit = 255,
    };

    /// <summary>Receive side: datagrams from interfaces we do not serve are dropped before they reach the loop.</summary>
    private void Dispatch(Span<byte> datagram, DatagramPath path)
    {
        foreach (var l in _links)
        {
            if (l.Interface.Index == path.InterfaceIndex)
            {
                _loop!.TryPostDatagram(datagram, path);
                return;
            }
        }
    }

    /// <summary>
    /// Publishes <paramref name="hostName"/> (A/AAAA) on every interface with that interface's addresses.
    /// Returns a publication id (see <see cref="UnpublishAsync"/>).
    /// </summary>
    public Task<int> PublishHostAsync(DnsName hostName, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        var p = new Publication(_nextPublication++);
        foreach (var l in _links)
            p.Ids[l] = l.Core.Responder.AddHost(hostName, l.Interface.Addresses.Where(Usable), now);
        _publications[p.Id] = p;
        return p.Id;
    }, cancellationToken);

    /// <summary>
    /// Publishes <paramref name="hostName"/> with exactly one address (A or AAAA), only on the interface(s) that carry
    /// <paramref name="address"/> (compared without IPv6 scope id) — what a WebRTC <c>&lt;uuid&gt;.local</c> host
    /// candidate needs. Throws <see cref="NetException"/> (<see cref="NetError.AddressUnavailable"/>) when none of the
    /// service's interfaces has that address. Returns a publication id (see <see cref="UnpublishAsync"/>).
    /// </summary>
    public Task<int> PublishHostAsync(DnsName hostName, IPAddress address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        return InvokeAsync(now =>
        {
            var links = _links.Where(l => l.Interface.Addresses.Any(a => SameAddress(a, address))).ToList();
            if (links.Count == 0) throw new NetException(NetError.AddressUnavailable, $"no mDNS interface carries {address}");
            var p = new Publication(_nextPublication++);
            foreach (var l in links) p.Ids[l] = l.Core.Responder.AddHost(hostName, [address], now);
            _publications[p.Id] = p;
            return p.Id;
        }, cancellationToken);
    }

    private static bool SameAddress(IPAddress a, IPAddress b)
    {
        if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4();
        if (b.IsIPv4MappedToIPv6) b = b.MapToIPv4();
        return a.AddressFamily == b.AddressFamily && a.GetAddressBytes().AsSpan().SequenceEqual(b.GetAddressBytes());
    }

    /// <summary>Publishes a DNS-SD service on every interface; returns a publication id.</summary>
    public Task<int> PublishServiceAsync(MdnsServiceRegistration registration, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        var p = new Publication(_nextPublication++);
        foreach (var l in _links) p.Ids[l] = l.Core.Responder.AddService(registration, now);
        _publications[p.Id] = p;
        return p.Id;
    }, cancellationToken);

    /// <summary>Replaces the TXT record and/or SRV target of a published service (re-announced).</summary>
    public Task UpdateServiceAsync(int publication, TxtProperties? txt, DnsName? hostName = null, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        foreach (var (l, id) in Get(publication).Ids) l.Core.Responder.UpdateService(id, txt, hostName, now);
        return 0;
    }, cancellationToken);

    /// <summary>The current name of a publication (on the first interface) — differs from the requested one after a rename.</summary>
    public Task<DnsName> GetPublishedNameAsync(int publication, CancellationToken cancellationToken = default) => InvokeAsync(_ =>
    {
        var (l, id) = Get(publication).Ids.First();
        return l.Core.Responder.GetName(id);
    }, cancellationToken);

    /// <summary>True once probing finished on every interface.</summary>
    public Task<bool> IsEstablishedAsync(int publication, CancellationToken cancellationToken = default) =>
        InvokeAsync(_ => IsEstablished(Get(publication)), cancellationToken);

    /// <summary>
    /// Completes once probing finished on every interface (awaits the responders' Established events, no
    /// polling); completes at once when it already has.
    /// </summary>
    public async Task WaitEstablishedAsync(int publication, CancellationToken cancellationToken = default)
    {
        var waiter = await InvokeAsync(_ =>
        {
            var p = Get(publication);
            if (IsEstablished(p)) return Task.CompletedTask;
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            p.EstablishedWaiters.Add(tcs);
            return tcs.Task;
        }, cancellationToken).ConfigureAwait(false);
        await waiter.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void FailWaiters(Publication p, string why)
    {
        foreach (var w in p.EstablishedWaiters) w.TrySetException(new NetException(NetError.InvalidState, why));
        p.EstablishedWaiters.Clear();
    }

    private static bool IsEstablished(Publication p) => p.Ids.All(kv => kv.Key.Core.Responder.IsEstablished(kv.Value));

    /// <summary>Withdraws a publication with goodbyes (sent when the task completes).</summary>
    public Task UnpublishAsync(int publication, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        if (_publications.Remove(publication, out var p))
        {
            foreach (var (l, id) in p.Ids) l.Core.Responder.Remove(id, now);
            FailWaiters(p, "the publication was withdrawn");
        }
        return 0;
    }, cancellationToken);

    /// <summary>Starts browsing a service type; results arrive through <see cref="ServiceChanged"/>.</summary>
    public Task BrowseAsync(DnsName serviceType, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        foreach (var l in _links) l.Core.Querier.Browse(serviceType, now);
        return 0;
    }, cancellationToken);

    /// <summary>
    /// Resolves a known service instance directly on every interface (<see cref="MdnsQuerier.ResolveInstance"/>): SRV +
    /// TXT questions answered at once by the responder; results arrive as <see cref="ServiceChanged"/> events of the
    /// browsed type.
    /// </summary>
    public Task ResolveInstanceAsync(DnsName instanceName, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        foreach (var l in _links) l.Core.Querier.ResolveInstance(instanceName, now);
        return 0;
    }, cancellationToken);

    /// <summary>Stops what <see cref="ResolveInstanceAsync"/> started.</summary>
    public Task StopResolveInstanceAsync(DnsName instanceName, CancellationToken cancellationToken = default) => InvokeAsync(now =>
    {
        foreach (var l in _links) l.Core.Querier.StopResolveInstance(instanceName, now);
        return 0;
    }, cancellationToken);

    /// <summary>A snapshot of the resolved instances (merged over interfaces).</summary>
    public Task<IReadOnlyList<MdnsServiceInstance>> GetServicesAsync(CancellationToken cancellationToken = default) => InvokeAsync<IReadOnlyList<MdnsServiceInstance>>(_ =>
        _merged.Values.Select(Merge).ToList(), cancellationToken);

    /// <summary>
    /// Resolves a <c>.local</c> host name (A/AAAA) with mDNS queries on every interface. Once the first
    /// address arrives it waits <see cref="ResolveSettleTime"/> more (many responders send A and AAAA in
    /// separate packets) and returns every address known by then; an empty list after <paramref name="timeout"/>.
    /// </summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveHostAsync(DnsName hostName, TimeSpan timeout, CancellationToken ct = default)
    {
        var first = await ResolveFirstAsync(hostName, timeout, ct).ConfigureAwait(false);
        if (first.Count == 0) return first;
        await Task.Delay(ResolveSettleTime, _time, ct).ConfigureAwait(false);
        return await InvokeAsync<IReadOnlyList<IPAddress>>(now =>
        {
            var all = _links.SelectMany(l => l.Core.Querier.GetAddresses(hostName, now)).Distinct().ToList();
            return all.Count > 0 ? all : first;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>How long <see cref="ResolveHostAsync"/> keeps listening after the first address (150 ms).</summary>
    public static TimeSpan ResolveSettleTime { get; } = TimeSpan.FromMilliseconds(150);

    private async Task<IReadOnlyList<IPAddress>> ResolveFirstAsync(DnsName hostName, TimeSpan timeout, CancellationToken ct)
    {
        var tcs = new TaskCompletionSource<IReadOnlyList<IPAddress>>(TaskCreationOptions.RunContinuationsAsynchronously);
        await InvokeAsync(now =>
        {
            foreach (var l in _links)
            {
                var known = l.Core.Querier.GetAddresses(hostName, now);
                if (known.Count > 0) tcs.TrySetResult(known);
            }
            if (!_hostWaiters.TryGetValue(hostName, out var list)) _hostWaiters[hostName] = list = [];
            list.Add(tcs);
            foreach (var l in _links) l.Core.Querier.ResolveHost(hostName, now);
            return 0;
        }, ct).ConfigureAwait(false);
        try
        {
            return await tcs.Task.WaitAsync(timeout, _time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return [];
        }
        finally
        {
            _loop!.Post(_ =>
            {
                if (_hostWaiters.TryGetValue(hostName, out var list))
                {
                    list.Remove(tcs);
                    if (list.Count == 0)
                    {
                        _hostWaiters.Remove(hostName);
                        foreach (var l in _links) l.Core.Querier.StopResolveHost(hostName);
                    }
                }
            });
        }
    }

    private static bool Usable(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork || a.AddressFamily == AddressFamily.InterNetworkV6;

    private Publication Get(int id) => _publications.TryGetValue(id, out var p) ? p : throw new NetException(NetError.InvalidState, $"no publication {id}");

    private async Task<T> InvokeAsync<T>(Func<TimeSpan, T> f, CancellationToken cancellationToken)
    {
        try
        {
            return await _loop!.InvokeAsync(f, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException ex)
        {
            throw new NetException(NetError.Closed, "mDNS service stopped", ex);
        }
    }

    /// <summary>Runs on the loop for every core event.</summary>
    private void OnEvent(MdnsLinkEvent ev)
    {
        var l = _links.Find(x => x.Interface.Index == ev.InterfaceIndex);
        if (l is null) return;
        if (ev.Responder is { } e)
        {
            if (e.Kind == MdnsResponderEventKind.Renamed)
            {
                if (_logger.IsEnabled(LogLevel.Information))
                    _logger.LogInformation("mdns: {Previous} renamed to {Name} on {Interface}", e.PreviousName, e.Name, l.Interface.Name);
                foreach (var p in _publications.Values)
                    if (p.Ids.TryGetValue(l, out int id) && id == e.RegistrationId) Raise(() => Renamed?.Invoke(p.Id, e.Name));
            }
            else
            {
                if (_logger.IsEnabled(LogLevel.Debug))
                    _logger.LogDebug("mdns: {Kind} {Name} on {Interface}", e.Kind, e.Name, l.Interface.Name);
                if (e.Kind == MdnsResponderEventKind.Established)
                {
                    foreach (var p in _publications.Values)
                    {
                        if (p.EstablishedWaiters.Count == 0 || !IsEstablished(p)) continue;
                        foreach (var w in p.EstablishedWaiters) w.TrySetResult();
                        p.EstablishedWaiters.Clear();
                    }
                }
            }
        }
        else if (ev.Querier is { } q)
        {
            OnQuerierEvent(l, q);
        }
    }

    private void Raise(Action raise)
    {
        try
        {
            raise();
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "mdns: an event handler threw");
        }
    }

    private void OnQuerierEvent(Link l, MdnsQuerierEvent e)
    {
        if (e.Kind == MdnsQuerierEventKind.HostAddressesChanged)
        {
            if (e.Addresses!.Count > 0 && _hostWaiters.TryGetValue(e.HostName!, out var list))
                foreach (var w in list) w.TrySetResult(e.Addresses);
            return;
        }
        var s = e.Service!;
        _merged.TryGetValue(s.FullName, out var per);
        var before = per is null || per.Count == 0 ? null : Merge(per);
        if (e.Kind == MdnsQuerierEventKind.ServiceRemoved)
        {
            per?.Remove(l.Interface.Index);
        }
        else
        {
            if (per is null) _merged[s.FullName] = per = [];
            per[l.Interface.Index] = s;
        }
        var after = per is null || per.Count == 0 ? null : Merge(per);
        if (per is { Count: 0 }) _merged.Remove(s.FullName);
        MdnsQuerierEvent? outEv = (before, after) switch
        {
            (null, not null) => new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceAdded, after),
            (not null, null) => new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceRemoved, before),
            (not null, not null) when !before.SameState(after) => new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceUpdated, after),
            _ => null,
        };
        if (outEv is null) return;
        Raise(() => ServiceChanged?.Invoke(outEv));
    }

    private static MdnsServiceInstance Merge(Dictionary<int, MdnsServiceInstance> per)
    {
        var first = per.OrderBy(kv => kv.Key).First().Value;
        var addrs = per.Values.SelectMany(s => s.Addresses).Distinct().ToList();
        return first with { Addresses = addrs };
    }

    /// <summary>Sends goodbyes for everything published, then closes the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_loop is { } loop)
        {
            try
            {
                // Completes after the loop handed the goodbyes to the sockets.
                await loop.InvokeAsync(now =>
                {
                    foreach (var l in _links) l.Core.Responder.Stop(now);
                    foreach (var p in _publications.Values) FailWaiters(p, "the mDNS service was disposed");
                }).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or ObjectDisposedException)
            {
                _logger.LogWarning("mdns: dispose: stop did not complete ({Reason})", ex.GetType().Name);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "mdns: dispose: the loop had failed");
            }
            await loop.DisposeAsync().ConfigureAwait(false);
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var s in _sockets) s.Dispose();
        try
        {
            await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            _logger.LogWarning("mdns: dispose: receive loops did not end");
        }
        _stop.Dispose();
        foreach (var tcsList in _hostWaiters.Values) foreach (var w in tcsList) w.TrySetResult([]);
    }

    private sealed record Link(NetInterface Interface, MdnsLinkCore Core);

    private sealed class Publication(int id)
    {
        public int Id { get; } = id;
        public Dictionary<Link, int> Ids { get; } = [];
        public List<TaskCompletionSource> EstablishedWaiters { get; } = [];
    }

    /// <summary>All links as one core on one loop: input by arrival interface, output and deadlines of every link.</summary>
    private sealed class Composite(List<Link> links) : IProtocolCore<MdnsLinkEvent>
    {
        private int _nextTransmit;
        private int _nextEvent;

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
        {
            foreach (var l in links)
            {
                if (l.Interface.Index == path.InterfaceIndex)
                {
                    l.Core.Receive(datagram, path, now);
                    return;
                }
            }
        }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            for (int i = 0; i < links.Count; i++)
            {
                var l = links[(_nextTransmit + i) % links.Count];
                if (l.Core.TryPollTransmit(destination, now, out transmit))
                {
                    _nextTransmit = (_nextTransmit + i + 1) % links.Count;
                    return true;
                }
            }
            transmit = default;
            return false;
        }

        public TimeSpan? NextDeadline
        {
            get
            {
                TimeSpan? next = null;
                foreach (var l in links)
                    if (l.Core.NextDeadline is { } d && (next is null || d < next)) next = d;
                return next;
            }
        }

        public void HandleDeadline(TimeSpan now)
        {
            foreach (var l in links)
                if (l.Core.NextDeadline <= now) l.Core.HandleDeadline(now);
        }

        public bool TryPollEvent([MaybeNullWhen(false)] out MdnsLinkEvent ev)
        {
            for (int i = 0; i < links.Count; i++)
            {
                var l = links[(_nextEvent + i) % links.Count];
                if (l.Core.TryPollEvent(out ev))
                {
                    _nextEvent = (_nextEvent + i + 1) % links.Count;
                    return true;
                }
            }
            ev = null;
            return false;
        }
    }

    /// <summary>Sends each transmit on the socket of its destination's address family (out of its interface).</summary>
    private sealed class Sender(List<IDatagramSocket> sockets) : IDatagramSender
    {
        public void Send(DatagramBatch batch)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                var path = batch.PathAt(i);
                if (path.Remote is not { } to) continue;
                var family = to.AddressFamily;
                foreach (var s in sockets)
                {
                    if (s.LocalEndPoint.AddressFamily == family)
                    {
                        s.Send(batch[i], path);
                        break;
                    }
                }
            }
        }
    }
}
