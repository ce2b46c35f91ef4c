using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using OspBridge.Net.Dns;
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

    /// <summary>Responder settings (TTLs, probing).</summary>
    public MdnsResponderOptions Responder { get; init; } = new();

    /// <summary>Querier settings (cache bounds, back-off).</summary>
    public MdnsQuerierOptions Querier { get; init; } = new();

    /// <summary>Seed for jitter (null = random).</summary>
    public int? RandomSeed { get; init; }

    /// <summary>Diagnostic log sink (one line per call); null = silent.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The mDNS / DNS-SD driver: binds UDP 5353 (IPv4 224.0.0.251 and IPv6 ff02::fb, shared with other
/// responders such as avahi), runs one <see cref="MdnsResponder"/> and one <see cref="MdnsQuerier"/> per
/// chosen interface on a single serialized loop, and merges what the queriers see across interfaces.
/// <para>
/// Sockets are created synchronously inside <see cref="Start"/>, so calling it on a thread that joined a
/// network namespace makes the whole service live in that namespace. Time comes from the
/// <see cref="TimeProvider"/> (monotonic timestamps); cores only see <c>now</c>.
/// Events are raised on the loop: handlers must be quick and must not block.
/// </para>
/// </summary>
public sealed class MdnsService : IAsyncDisposable
{
    private readonly MdnsServiceOptions _options;
    private readonly TimeProvider _time;
    private readonly long _t0;
    private readonly List<Link> _links = [];
    private readonly List<MulticastUdpSocket> _sockets = [];
    private readonly Channel<Action<TimeSpan>> _work = Channel.CreateUnbounded<Action<TimeSpan>>(new() { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<DnsName, Dictionary<int, MdnsServiceInstance>> _merged = [];
    private readonly Dictionary<DnsName, List<TaskCompletionSource<IReadOnlyList<IPAddress>>>> _hostWaiters = [];
    private readonly Dictionary<int, Publication> _publications = [];
    private readonly List<Task> _tasks = [];
    private const int MaxQueuedDatagrams = 1024;
    private Task _loop = Task.CompletedTask;
    private int _queuedDatagrams;
    private long _droppedDatagrams;
    private int _nextPublication = 1;
    private bool _disposed;

    private MdnsService(MdnsServiceOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _t0 = time.GetTimestamp();
    }

    /// <summary>Datagrams dropped because the loop was behind by more than 1024 datagrams.</summary>
    public long DroppedDatagrams => Interlocked.Read(ref _droppedDatagrams);

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
        svc._loop = Task.Run(svc.RunAsync);
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
        var rnd = _options.RandomSeed is int seed ? new Random(seed) : new Random();
        foreach (var i in chosen)
            _links.Add(new Link(i, new MdnsResponder(_options.Responder, new Random(rnd.Next())), new MdnsQuerier(i.Index, _options.Querier, new Random(rnd.Next()))));
        var indexes = chosen.Select(i => i.Index).ToList();
        if (_options.UseIPv4 && chosen.Any(i => i.Addresses.Any(a => a.AddressFamily == AddressFamily.InterNetwork)))
            _sockets.Add(new MulticastUdpSocket(AddressFamily.InterNetwork, MdnsConstants.IPv4Group, MdnsConstants.Port,
                chosen.Where(i => i.Addresses.Any(a => a.AddressFamily == AddressFamily.InterNetwork)).Select(i => i.Index)));
        if (_options.UseIPv6 && Socket.OSSupportsIPv6 && chosen.Any(i => i.Addresses.Any(a => a.AddressFamily == AddressFamily.InterNetworkV6)))
            _sockets.Add(new MulticastUdpSocket(AddressFamily.InterNetworkV6, MdnsConstants.IPv6Group, MdnsConstants.Port,
                chosen.Where(i => i.Addresses.Any(a => a.AddressFamily == AddressFamily.InterNetworkV6)).Select(i => i.Index)));
        if (_sockets.Count == 0) throw new NetException(NetError.AddressUnavailable, "no usable address family on the chosen interfaces");
        foreach (var s in _sockets) _tasks.Add(Task.Run(() => ReceiveLoopAsync(s)));
        Log($"mdns: running on {string.Join(", ", chosen.Select(i => $"{i.Name}#{i.Index}"))} ({string.Join("+", _sockets.Select(s => s.Family == AddressFamily.InterNetwork ? "IPv4" : "IPv6"))})");
    }

    private TimeSpan Now => _time.GetElapsedTime(_t0);

    /// <summary>
    /// Publishes <paramref name="hostName"/> (A/AAAA) on every interface with that interface's addresses.
    /// Returns a publication id (see <see cref="UnpublishAsync"/>).
    /// </summary>
    public Task<int> PublishHostAsync(DnsName hostName) => InvokeAsync(now =>
    {
        var p = new Publication(_nextPublication++);
        foreach (var l in _links)
            p.Ids[l] = l.Responder.AddHost(hostName, l.Interface.Addresses.Where(Usable), now);
        _publications[p.Id] = p;
        return p.Id;
    });

    /// <summary>
    /// Publishes <paramref name="hostName"/> with exactly one address (A or AAAA), only on the interface(s) that carry
    /// <paramref name="address"/> (compared without IPv6 scope id) — what a WebRTC <c>&lt;uuid&gt;.local</c> host
    /// candidate needs. Throws <see cref="NetException"/> (<see cref="NetError.AddressUnavailable"/>) when none of the
    /// service's interfaces has that address. Returns a publication id (see <see cref="UnpublishAsync"/>).
    /// </summary>
    public Task<int> PublishHostAsync(DnsName hostName, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return InvokeAsync(now =>
        {
            var links = _links.Where(l => l.Interface.Addresses.Any(a => SameAddress(a, address))).ToList();
            if (links.Count == 0) throw new NetException(NetError.AddressUnavailable, $"no mDNS interface carries {address}");
            var p = new Publication(_nextPublication++);
            foreach (var l in links) p.Ids[l] = l.Responder.AddHost(hostName, [address], now);
            _publications[p.Id] = p;
            return p.Id;
        });
    }

    private static bool SameAddress(IPAddress a, IPAddress b)
    {
        if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4();
        if (b.IsIPv4MappedToIPv6) b = b.MapToIPv4();
        return a.AddressFamily == b.AddressFamily && a.GetAddressBytes().AsSpan().SequenceEqual(b.GetAddressBytes());
    }

    /// <summary>Publishes a DNS-SD service on every interface; returns a publication id.</summary>
    public Task<int> PublishServiceAsync(MdnsServiceRegistration registration) => InvokeAsync(now =>
    {
        var p = new Publication(_nextPublication++);
        foreach (var l in _links) p.Ids[l] = l.Responder.AddService(registration, now);
        _publications[p.Id] = p;
        return p.Id;
    });

    /// <summary>Replaces the TXT record and/or SRV target of a published service (re-announced).</summary>
    public Task UpdateServiceAsync(int publication, TxtProperties? txt, DnsName? hostName = null) => InvokeAsync(now =>
    {
        foreach (var (l, id) in Get(publication).Ids) l.Responder.UpdateService(id, txt, hostName, now);
        return 0;
    });

    /// <summary>The current name of a publication (on the first interface) — differs from the requested one after a rename.</summary>
    public Task<DnsName> GetPublishedNameAsync(int publication) => InvokeAsync(_ =>
    {
        var (l, id) = Get(publication).Ids.First();
        return l.Responder.GetName(id);
    });

    /// <summary>True once probing finished on every interface.</summary>
    public Task<bool> IsEstablishedAsync(int publication) => InvokeAsync(_ => Get(publication).Ids.All(kv => kv.Key.Responder.IsEstablished(kv.Value)));

    /// <summary>Withdraws a publication with goodbyes.</summary>
    public Task UnpublishAsync(int publication) => InvokeAsync(now =>
    {
        if (_publications.Remove(publication, out var p))
            foreach (var (l, id) in p.Ids) l.Responder.Remove(id, now);
        return 0;
    });

    /// <summary>Starts browsing a service type; results arrive through <see cref="ServiceChanged"/>.</summary>
    public Task BrowseAsync(DnsName serviceType) => InvokeAsync(now =>
    {
        foreach (var l in _links) l.Querier.Browse(serviceType, now);
        return 0;
    });

    /// <summary>A snapshot of the resolved instances (merged over interfaces).</summary>
    public Task<IReadOnlyList<MdnsServiceInstance>> GetServicesAsync() => InvokeAsync<IReadOnlyList<MdnsServiceInstance>>(_ =>
        _merged.Values.Select(Merge).ToList());

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
            var all = _links.SelectMany(l => l.Querier.GetAddresses(hostName, now)).Distinct().ToList();
            return all.Count > 0 ? all : first;
        }).ConfigureAwait(false);
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
                var known = l.Querier.GetAddresses(hostName, now);
                if (known.Count > 0) tcs.TrySetResult(known);
            }
            if (!_hostWaiters.TryGetValue(hostName, out var list)) _hostWaiters[hostName] = list = [];
            list.Add(tcs);
            foreach (var l in _links) l.Querier.ResolveHost(hostName, now);
            return 0;
        }).ConfigureAwait(false);
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
            Post(_ =>
            {
                if (_hostWaiters.TryGetValue(hostName, out var list))
                {
                    list.Remove(tcs);
                    if (list.Count == 0)
                    {
                        _hostWaiters.Remove(hostName);
                        foreach (var l in _links) l.Querier.StopResolveHost(hostName);
                    }
                }
            });
        }
    }

    private static bool Usable(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork || a.AddressFamily == AddressFamily.InterNetworkV6;

    private Publication Get(int id) => _publications.TryGetValue(id, out var p) ? p : throw new NetException(NetError.InvalidState, $"no publication {id}");

    private Task<T> InvokeAsync<T>(Func<TimeSpan, T> f)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_work.Writer.TryWrite(now =>
            {
                try { tcs.TrySetResult(f(now)); }
                catch (Exception ex) { tcs.TrySetException(ex); }
            }))
            tcs.TrySetException(new NetException(NetError.Closed, "mDNS service stopped"));
        return tcs.Task;
    }

    private void Post(Action<TimeSpan> a) => _work.Writer.TryWrite(a);

    private async Task ReceiveLoopAsync(MulticastUdpSocket s)
    {
        var buffer = new byte[DnsMessage.MaxMessageSize];
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            (int Length, IPEndPoint From, int InterfaceIndex) r;
            try
            {
                r = await s.ReceiveAsync(buffer, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log($"mdns: receive error {ex.SocketErrorCode}");
                continue;
            }
            var link = _links.Find(l => l.Interface.Index == r.InterfaceIndex);
            if (link is null) continue; // arrived on an interface we do not serve
            if (!DnsMessage.TryParse(buffer.AsSpan(0, r.Length), out var msg))
            {
                Log($"mdns: malformed datagram from {r.From} on {link.Interface.Name}");
                continue;
            }
            var from = r.From;
            // Bounded backlog: under a flood, datagrams beyond MaxQueuedDatagrams are dropped, not buffered.
            if (Interlocked.Increment(ref _queuedDatagrams) > MaxQueuedDatagrams)
            {
                Interlocked.Decrement(ref _queuedDatagrams);
                Interlocked.Increment(ref _droppedDatagrams);
                continue;
            }
            Post(now =>
            {
                Interlocked.Decrement(ref _queuedDatagrams);
                link.Responder.Receive(msg!, from, now);
                link.Querier.Receive(msg!, from, now);
            });
        }
    }

    private async Task RunAsync()
    {
        var reader = _work.Reader;
        while (true)
        {
            var now = Now;
            foreach (var l in _links)
            {
                if (l.Responder.NextDeadline <= now) l.Responder.HandleTimeout(now);
                if (l.Querier.NextDeadline <= now) l.Querier.HandleTimeout(now);
            }
            Flush();
            TimeSpan? next = null;
            foreach (var l in _links)
                foreach (var d in (ReadOnlySpan<TimeSpan?>)[l.Responder.NextDeadline, l.Querier.NextDeadline])
                    if (d is { } v && (next is null || v < next)) next = v;
            try
            {
                if (!reader.TryPeek(out _))
                {
                    if (next is { } n)
                    {
                        var delay = n - Now;
                        if (delay > TimeSpan.Zero)
                        {
                            using var cts = new CancellationTokenSource(delay, _time);
                            try { await reader.WaitToReadAsync(cts.Token).ConfigureAwait(false); }
                            catch (OperationCanceledException) { }
                        }
                    }
                    else if (!await reader.WaitToReadAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                }
            }
            catch (ChannelClosedException)
            {
                return;
            }
            int budget = 256;
            while (budget-- > 0 && reader.TryRead(out var work)) work(Now);
            if (reader.Completion.IsCompleted) { Flush(); return; }
        }
    }

    private void Flush()
    {
        foreach (var l in _links)
        {
            while (l.Responder.TryDequeueTransmit(out var t)) Transmit(l, t);
            while (l.Querier.TryDequeueTransmit(out var t)) Transmit(l, t);
            while (l.Responder.TryDequeueEvent(out var e))
            {
                if (e!.Kind == MdnsResponderEventKind.Renamed)
                {
                    Log($"mdns: {e.PreviousName} renamed to {e.Name} on {l.Interface.Name}");
                    foreach (var p in _publications.Values)
                        if (p.Ids.TryGetValue(l, out int id) && id == e.RegistrationId) Renamed?.Invoke(p.Id, e.Name);
                }
                else
                {
                    Log($"mdns: {e.Kind} {e.Name} on {l.Interface.Name}");
                }
            }
            while (l.Querier.TryDequeueEvent(out var e)) OnQuerierEvent(l, e!);
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
        try
        {
            ServiceChanged?.Invoke(outEv);
        }
        catch (Exception ex)
        {
            Log($"mdns: ServiceChanged handler threw {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static MdnsServiceInstance Merge(Dictionary<int, MdnsServiceInstance> per)
    {
        var first = per.OrderBy(kv => kv.Key).First().Value;
        var addrs = per.Values.SelectMany(s => s.Addresses).Distinct().ToList();
        return first with { Addresses = addrs };
    }

    private void Transmit(Link l, MdnsTransmit t)
    {
        try
        {
            if (t.Unicast is { } to)
            {
                var sock = _sockets.Find(s => s.Family == to.AddressFamily);
                sock?.SendUnicast(t.Payload, to);
                return;
            }
            foreach (var s in _sockets)
            {
                var fam = s.Family;
                if (!l.Interface.Addresses.Any(a => a.AddressFamily == fam)) continue;
                s.SendMulticast(t.Payload, l.Interface.Index);
            }
        }
        catch (SocketException ex)
        {
            Log($"mdns: send on {l.Interface.Name} failed: {ex.SocketErrorCode}");
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Log(string line) => _options.Log?.Invoke(line);

    /// <summary>Sends goodbyes for everything published, then closes the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            await InvokeAsync(now =>
            {
                foreach (var l in _links) l.Responder.Stop(now);
                return 0;
            }).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or NetException)
        {
            Log("mdns: dispose: stop timed out");
        }
        _work.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log("mdns: dispose: loop did not end");
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var s in _sockets) s.Dispose();
        try
        {
            await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            Log("mdns: dispose: receive loops did not end");
        }
        _stop.Dispose();
        foreach (var tcsList in _hostWaiters.Values) foreach (var w in tcsList) w.TrySetResult([]);
    }

    private sealed record Link(NetInterface Interface, MdnsResponder Responder, MdnsQuerier Querier);

    private sealed class Publication(int id)
    {
        public int Id { get; } = id;
        public Dictionary<Link, int> Ids { get; } = [];
    }
}
