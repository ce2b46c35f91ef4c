using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OspBridge.Net.Core;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>
/// Sans-IO mDNS querier for one interface (RFC 6762 §5, §7, §10; DNS-SD RFC 6763). Browses service types
/// with continuous queries (first after 20–120 ms, then 1 s, 2 s, 4 s ... up to 60 min, with known
/// answers), resolves instances to host:port + TXT + addresses, resolves arbitrary <c>.local</c> host names
/// (e.g. WebRTC <c>&lt;uuid&gt;.local</c> candidates), and keeps a bounded cache: TTL expiry, refresh queries
/// at 80/85/90/95 % of the TTL (+0–2 % jitter) for records in use, cache-flush and goodbye handling (both
/// expire the old records after 1 s). Events say when instances appear, change or go, and when host address
/// sets change.
/// <para>Same driving contract as <see cref="MdnsResponder"/>; one loop, <c>now</c> monotonic.</para>
/// </summary>
public sealed class MdnsQuerier : IProtocolCore<MdnsQuerierEvent>
{
    private static readonly double[] RefreshFractions = [0.80, 0.85, 0.90, 0.95];
    private readonly MdnsQuerierOptions _o;
    private readonly RandomNumberGenerator _random;
    private readonly int _interfaceIndex;
    private readonly Dictionary<(string, DnsRecordType), List<CacheEntry>> _cache = [];
    // PTR records by (owner, target): a browsed type's PTR rrset holds one record per instance, so finding a record in it
    // (every answer, every refresh) must not scan the list (issue 13: O(instances) work per packet with 1000 devices).
    private readonly Dictionary<(string Name, string Target), CacheEntry> _ptrIndex = [];
    // Expiry and refresh times, earliest first; lazily cleaned (an entry whose time moved, or that left the cache, is
    // skipped when it comes up) and rebuilt when stale items outnumber the cache (bounded under repeated answers).
    private readonly PriorityQueue<CacheEntry, TimeSpan> _timers = new();
    // SRV target host -> instances with a cached SRV record pointing at it (A/AAAA changes touch only those).
    private readonly Dictionary<DnsName, HashSet<DnsName>> _instancesByTarget = [];
    // What changed since the last update: only these instances and hosts are recomputed (O(changed), not O(cache)).
    private readonly HashSet<DnsName> _dirtyInstances = [];
    private readonly HashSet<DnsName> _dirtyHosts = [];
    private readonly HashSet<DnsName> _dirtyTargets = [];
    private bool _dirtyAll;
    private readonly Dictionary<IPAddress, LinkedList<CacheEntry>> _perSource = [];
    private readonly List<HashSet<IPAddress>> _sourcesByCount = [[]]; // [n]: sources holding n records
    private int _largestSourceCount;
    private readonly Dictionary<DnsName, QueryTask> _browses = [];
    private readonly Dictionary<DnsName, QueryTask> _hostResolves = [];
    private readonly Dictionary<DnsName, QueryTask> _instanceQueries = [];
    private readonly Dictionary<DnsName, QueryTask> _targetQueries = [];
    private readonly HashSet<DnsName> _wantedInstances = [];
    private readonly Dictionary<DnsName, MdnsServiceInstance> _services = [];
    private readonly Dictionary<DnsName, IReadOnlyList<IPAddress>> _hostAddresses = [];
    private readonly MdnsTransmitQueue _transmits;
    private readonly Queue<MdnsQuerierEvent> _events = new();
    private int _count;

    /// <summary>Creates a querier for the interface with index <paramref name="interfaceIndex"/> (used as scope id of link-local results).</summary>
    /// <remarks>Jitter comes from <see cref="MdnsQuerierOptions.Random"/> (seed it in tests).</remarks>
    public MdnsQuerier(int interfaceIndex, MdnsQuerierOptions? options = null)
    {
        _interfaceIndex = interfaceIndex;
        _o = options ?? new MdnsQuerierOptions();
        _random = _o.Random ?? RandomNumberGenerator.Create();
        _transmits = new MdnsTransmitQueue(_o.MulticastDestinations, interfaceIndex);
    }

    /// <summary>Records currently cached.</summary>
    public int CachedRecordCount => _count;

    /// <summary>
    /// Records lost to a cache bound: refused (their source was at <see cref="MdnsQuerierOptions.MaxRecordsPerResponder"/>,
    /// or the cache was full and no source held more) or evicted to make room (see <see cref="EvictedRecords"/>).
    /// </summary>
    public long DroppedRecords { get; private set; }

    /// <summary>
    /// Of <see cref="DroppedRecords"/>, those evicted from the source holding the most records so that a record from a
    /// source holding fewer could be kept while the cache was full.
    /// </summary>
    public long EvictedRecords { get; private set; }

    /// <summary>Distinct source addresses with records in the cache.</summary>
    public int CachedSourceCount => _perSource.Count;

    /// <summary>Malformed datagrams ignored so far.</summary>
    public long MalformedPackets { get; private set; }

    /// <summary>
    /// Service instances (re)computed so far: a received answer or a due timer recomputes only the instances whose
    /// records it touched, so this grows with what changed, not with the instances known (diagnostics and tests).
    /// </summary>
    internal long InstancesEvaluated { get; private set; }

    /// <summary>Cache entries looked at by timer handling so far (due expiries and refreshes only; tests).</summary>
    internal long TimerEntriesVisited { get; private set; }

    /// <summary>Items in the timer queue, stale ones included (bounded by twice the cache plus 64; tests).</summary>
    internal int TimerQueueLength => _timers.Count;

    /// <summary>Currently resolved instances of all browsed types.</summary>
    public IReadOnlyCollection<MdnsServiceInstance> Services => _services.Values;

    /// <summary>Starts browsing a service type (e.g. <c>_openscreen._udp.local</c>) with continuous querying.</summary>
    public void Browse(DnsName serviceType, TimeSpan now)
    {
        if (_browses.ContainsKey(serviceType)) return;
        _browses[serviceType] = new QueryTask(now + Jitter(20, 120), _o.InitialQueryInterval, _o.MaxQueryInterval);
        _dirtyAll = true;
        Update(now);
    }

    /// <summary>Stops browsing a type; its instances are reported removed.</summary>
    public void StopBrowse(DnsName serviceType, TimeSpan now)
    {
        _browses.Remove(serviceType);
        _dirtyAll = true;
        Update(now);
    }

    /// <summary>
    /// Resolves a service instance whose full name is already known (e.g. <c>Front Door._openscreen._udp.local</c>)
    /// directly with SRV + TXT questions, without waiting for the PTR answer of a browse (RFC 6763 §4.3 "resolve"; the
    /// records asked are unique, so responders answer at once, RFC 6762 §6, instead of after the 20–120 ms delay of the
    /// shared PTR answer). Its type must be browsed (<see cref="Browse"/>): the instance is reported through the same
    /// events. An instance that does not exist costs the usual 1 s, 2 s, 4 s ... resolve queries until
    /// <see cref="StopResolveInstance"/>.
    /// </summary>
    public void ResolveInstance(DnsName instance, TimeSpan now)
    {
        if (!_wantedInstances.Add(instance)) return;
        _dirtyInstances.Add(instance);
        Update(now);
    }

    /// <summary>Stops resolving an instance asked for by <see cref="ResolveInstance"/> (a PTR answer still reports it).</summary>
    public void StopResolveInstance(DnsName instance, TimeSpan now)
    {
        if (!_wantedInstances.Remove(instance)) return;
        _dirtyInstances.Add(instance);
        Update(now);
    }

    /// <summary>Starts resolving a host name (A + AAAA) continuously; <see cref="MdnsQuerierEventKind.HostAddressesChanged"/> reports results.</summary>
    public void ResolveHost(DnsName hostName, TimeSpan now)
    {
        if (_hostResolves.ContainsKey(hostName)) return;
        _hostResolves[hostName] = new QueryTask(now, _o.InitialQueryInterval, _o.MaxQueryInterval);
        _hostAddresses[hostName] = [];
        _dirtyHosts.Add(hostName);
        Update(now);
    }

    /// <summary>Stops resolving a host name.</summary>
    public void StopResolveHost(DnsName hostName)
    {
        _hostResolves.Remove(hostName);
        _hostAddresses.Remove(hostName);
    }

    /// <summary>Live cached addresses of a host name (link-local IPv6 with scope id).</summary>
    public IReadOnlyList<IPAddress> GetAddresses(DnsName hostName, TimeSpan now)
    {
        var list = new List<IPAddress>();
        foreach (var t in (ReadOnlySpan<DnsRecordType>)[DnsRecordType.A, DnsRecordType.AAAA])
            foreach (var e in Live(hostName, t, now))
            {
                var a = e.Record is ARecord ar ? ar.Address : ((AaaaRecord)e.Record).Address;
                if (a.AddressFamily == AddressFamily.InterNetworkV6 && a.IsIPv6LinkLocal) a = new IPAddress(a.GetAddressBytes(), _interfaceIndex);
                if (!list.Contains(a)) list.Add(a);
            }
        return list;
    }

    /// <summary>Live cached records with this name and type (for diagnostics and tests).</summary>
    public IReadOnlyList<DnsRecord> GetRecords(DnsName name, DnsRecordType type, TimeSpan now) => Live(name, type, now).Select(e => e.Record).ToList();

    /// <summary>Next time <see cref="HandleDeadline"/> must be called, or null when idle.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            var t = TimeSpan.MaxValue;
            while (_timers.TryPeek(out var top, out var at))
            {
                if (top.Removed || at != top.DueAt) { _timers.Dequeue(); continue; } // stale
                t = at;
                break;
            }
            foreach (var d in (Dictionary<DnsName, QueryTask>[])[_browses, _hostResolves, _instanceQueries, _targetQueries])
                foreach (var q in d.Values) if (q.NextAt < t) t = q.NextAt;
            return t == TimeSpan.MaxValue ? null : t;
        }
    }

    /// <summary>Writes the next datagram to send (a multicast query once per configured group).</summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit) => _transmits.TryPoll(destination, out transmit);

    /// <summary>Takes the next event.</summary>
    public bool TryPollEvent([MaybeNullWhen(false)] out MdnsQuerierEvent ev) => _events.TryDequeue(out ev);

    /// <summary>Parses and handles one datagram from <see cref="DatagramPath.Remote"/>; malformed ones are counted and ignored.</summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (path.Remote is { } source) Receive((ReadOnlySpan<byte>)datagram, source, now);
    }

    /// <summary>Parses and handles one datagram; malformed ones are counted and ignored.</summary>
    public void Receive(ReadOnlySpan<byte> datagram, IPEndPoint source, TimeSpan now)
    {
        if (!DnsMessage.TryParse(datagram, out var m)) { MalformedPackets++; return; }
        Receive(m!, source, now);
    }

    /// <summary>Handles one parsed message; only responses from port 5353 (or legacy replies) feed the cache.</summary>
    public void Receive(DnsMessage m, IPEndPoint source, TimeSpan now)
    {
        if (!m.IsResponse || m.Header.Opcode != 0 || m.Header.ResponseCode != 0) return;
        if (source.Port != MdnsConstants.Port) return;
        var records = m.Answers.Concat(m.Additionals).Where(r => r is not UnknownRecord && (r.Class == DnsClass.IN)).ToList();
        // Cache-flush (§10.2): older records of a flushed rrset expire in 1 s.
        foreach (var g in records.Where(r => r.CacheFlush && r.Ttl > 0).GroupBy(r => (r.Name.Key, r.Type)))
        {
            if (!_cache.TryGetValue(g.Key, out var list)) continue;
            foreach (var e in list)
                if (e.Received < now - TimeSpan.FromSeconds(1) && !g.Any(r => r.SameRecord(e.Record)) && e.Expires > now + TimeSpan.FromSeconds(1))
                {
                    e.Expires = now + TimeSpan.FromSeconds(1);
                    Reschedule(e);
                }
        }
        foreach (var r in records) Insert(r, source.Address, now);
        Update(now);
    }

    private void Insert(DnsRecord r, IPAddress source, TimeSpan now)
    {
        var key = (r.Name.Key, r.Type);
        _cache.TryGetValue(key, out var list);
        var existing = r is PtrRecord ptr
            ? (_ptrIndex.TryGetValue((r.Name.Key, ptr.Target.Key), out var p) && p.Record.SameRecord(r) ? p : null)
            : list?.Find(e => e.Record.SameRecord(r));
        if (r.Ttl == 0)
        {
            // Goodbye (§10.1): keep for one more second.
            if (existing is not null)
            {
                existing.Expires = Min(existing.Expires, now + TimeSpan.FromSeconds(1));
                existing.NextRefresh = TimeSpan.MaxValue;
                Reschedule(existing);
            }
            return;
        }
        if (existing is not null)
        {
            existing.Record = r;
            Schedule(existing, now);
            MarkDirty(r);
            return;
        }
        _perSource.TryGetValue(source, out var fromSource);
        int held = fromSource?.Count ?? 0;
        if (held >= _o.MaxRecordsPerResponder || (_count >= _o.MaxCacheRecords && !EvictFromLargestSource(held)))
        {
            DroppedRecords++;
            return;
        }
        if (list is null) _cache[key] = list = [];
        var entry = new CacheEntry(r, source);
        Schedule(entry, now);
        list.Add(entry);
        _count++;
        if (r is PtrRecord added) _ptrIndex[(r.Name.Key, added.Target.Key)] = entry;
        if (r is SrvRecord srv) InstancesOf(srv.Target).Add(r.Name);
        MarkDirty(r);
        if (fromSource is null) _perSource[source] = fromSource = new LinkedList<CacheEntry>();
        entry.SourceNode = fromSource.AddLast(entry);
        MoveSource(source, fromSource.Count - 1, fromSource.Count);
    }

    /// <summary>Keeps <see cref="_sourcesByCount"/> and the largest count when a source's record count changes.</summary>
    private void MoveSource(IPAddress source, int from, int to)
    {
        if (from > 0) _sourcesByCount[from].Remove(source);
        if (to > 0)
        {
            while (_sourcesByCount.Count <= to) _sourcesByCount.Add([]);
            _sourcesByCount[to].Add(source);
        }
        if (to > _largestSourceCount) _largestSourceCount = to;
        while (_largestSourceCount > 0 && _sourcesByCount[_largestSourceCount].Count == 0) _largestSourceCount--;
    }

    /// <summary>
    /// The cache is full: makes room for a record from a source that holds <paramref name="held"/> records by evicting
    /// the oldest record of the source that holds the most, when that one holds more than the newcomer would after the
    /// insert (so a flooder near its per-responder bound loses records to agents that hold a few, and sources end up
    /// sharing the cache evenly; never the other way round). O(1): sources are bucketed by their record count. False
    /// when no source holds more (then the new record is refused — first come, first kept).
    /// </summary>
    private bool EvictFromLargestSource(int held)
    {
        if (_largestSourceCount <= held + 1) return false;
        IPAddress? largest = null;
        foreach (var a in _sourcesByCount[_largestSourceCount])
        {
            largest = a;
            break;
        }
        var victim = _perSource[largest!].First!.Value;
        var key = (victim.Record.Name.Key, victim.Record.Type);
        var list = _cache[key];
        list.Remove(victim);
        if (list.Count == 0) _cache.Remove(key);
        Forget(victim);
        EvictedRecords++;
        DroppedRecords++;
        return true;
    }

    private void Schedule(CacheEntry e, TimeSpan now)
    {
        e.Received = now;
        e.Expires = now + TimeSpan.FromSeconds(e.Record.Ttl);
        e.RefreshStep = 0;
        e.NextRefresh = RefreshTime(e, 0);
        Reschedule(e);
    }

    /// <summary>Queues the entry at its new earliest time (the old queue item, if any, becomes stale).</summary>
    private void Reschedule(CacheEntry e)
    {
        var due = Min(e.Expires, e.NextRefresh);
        if (due == e.DueAt && e.Queued) return;
        e.DueAt = due;
        e.Queued = true;
        _timers.Enqueue(e, due);
        if (_timers.Count > (2 * _count) + 64) RebuildTimers();
    }

    /// <summary>Drops the stale queue items (each entry once more at its current time): keeps the queue O(cache).</summary>
    private void RebuildTimers()
    {
        _timers.Clear();
        foreach (var list in _cache.Values)
            foreach (var e in list)
                _timers.Enqueue(e, e.DueAt);
    }

    /// <summary>Notes which instances or hosts a record's change can affect, for the next <see cref="Update"/>.</summary>
    private void MarkDirty(DnsRecord r)
    {
        switch (r)
        {
            case PtrRecord p: _dirtyInstances.Add(p.Target); break;
            case SrvRecord or TxtRecord: _dirtyInstances.Add(r.Name); break;
            case ARecord or AaaaRecord: _dirtyHosts.Add(r.Name); break;
        }
    }

    private HashSet<DnsName> InstancesOf(DnsName target)
    {
        if (!_instancesByTarget.TryGetValue(target, out var set)) _instancesByTarget[target] = set = [];
        return set;
    }

    private TimeSpan RefreshTime(CacheEntry e, int step)
        => step >= RefreshFractions.Length ? TimeSpan.MaxValue
            : e.Received + TimeSpan.FromSeconds(e.Record.Ttl * (RefreshFractions[step] + MdnsRandom.NextDouble(_random) * 0.02));

    /// <summary>Runs timers due at <paramref name="now"/>: expiry, refresh and continuous queries.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        var questions = new List<DnsQuestion>();
        void Ask(DnsName n, DnsRecordType t, bool unicast = false)
        {
            // §5.4 suggests QU on the first query of a new browse/resolve. Off by default: when several
            // processes share port 5353 (SO_REUSEPORT; avahi + us), the kernel hands a unicast reply to just
            // one of them, often the wrong one (RFC 6762 §15.1), while a multicast reply reaches everybody.
            int i = questions.FindIndex(q => q.Name == n && q.Type == t);
            if (i < 0) questions.Add(new DnsQuestion(n, t, DnsClass.IN, unicast));
            else if (unicast) questions[i] = questions[i] with { UnicastResponse = true };
        }

        // Expiry, and refresh at 80/85/90/95 % for records in use: only the entries that are due (earliest first).
        var due = new List<CacheEntry>();
        while (_timers.TryPeek(out var top, out var at) && at <= now)
        {
            _timers.Dequeue();
            if (top.Removed || at != top.DueAt) continue; // stale
            top.Queued = false;
            due.Add(top);
        }
        TimerEntriesVisited += due.Count;
        foreach (var e in due)
        {
            if (e.Expires > now) continue;
            var key = (e.Record.Name.Key, e.Record.Type);
            if (_cache.TryGetValue(key, out var list))
            {
                list.Remove(e);
                if (list.Count == 0) _cache.Remove(key);
            }
            Forget(e);
        }
        foreach (var e in due)
        {
            if (e.Removed) continue;
            if (e.NextRefresh <= now)
            {
                if (InUse(e.Record, now)) Ask(e.Record.Name, e.Record.Type);
                e.RefreshStep++;
                e.NextRefresh = RefreshTime(e, e.RefreshStep);
                if (e.NextRefresh <= now) e.NextRefresh = now + TimeSpan.FromMilliseconds(1);
            }
            Reschedule(e);
        }

        foreach (var (type, q) in _browses)
            if (q.Due(now, out bool first)) Ask(type, DnsRecordType.PTR, first && _o.UnicastFirstQuery);
        foreach (var (name, q) in _hostResolves)
            if (q.Due(now, out bool first)) { Ask(name, DnsRecordType.A, first && _o.UnicastFirstQuery); Ask(name, DnsRecordType.AAAA, first && _o.UnicastFirstQuery); }
        foreach (var (name, q) in _instanceQueries)
            if (q.Due(now)) { Ask(name, DnsRecordType.SRV); Ask(name, DnsRecordType.TXT); }
        foreach (var (name, q) in _targetQueries)
            if (q.Due(now)) { Ask(name, DnsRecordType.A); Ask(name, DnsRecordType.AAAA); }

        if (questions.Count > 0)
        {
            // Known answers (§7.1): cached answers with more than half their TTL left.
            var known = new List<DnsRecord>();
            foreach (var q in questions)
                foreach (var e in Live(q.Name, q.Type, now))
                    if (e.Expires - now > TimeSpan.FromSeconds(e.Record.Ttl / 2.0))
                        known.Add(e.Record.WithTtl((uint)Math.Max(1, (e.Expires - now).TotalSeconds)).WithCacheFlush(false));
            foreach (var p in MdnsPacketBuilder.Queries(questions, known)) _transmits.Enqueue(p, null);
        }
        Update(now);
    }

    private bool InUse(DnsRecord r, TimeSpan now)
    {
        switch (r)
        {
            case PtrRecord:
                return _browses.ContainsKey(r.Name);
            case SrvRecord or TxtRecord:
                return _services.ContainsKey(r.Name) || _instanceQueries.ContainsKey(r.Name);
            case ARecord or AaaaRecord:
                return _hostResolves.ContainsKey(r.Name) || _targetQueries.ContainsKey(r.Name)
                       || (_instancesByTarget.TryGetValue(r.Name, out var users) && users.Any(i => _services.TryGetValue(i, out var s) && s.HostName == r.Name));
            default:
                return false;
        }
    }

    /// <summary>Bookkeeping of an entry that left its cache list (expired or evicted): counts, indexes, dirtiness.</summary>
    private void Forget(CacheEntry e)
    {
        e.Removed = true;
        MarkDirty(e.Record);
        switch (e.Record)
        {
            case PtrRecord p:
                if (_ptrIndex.TryGetValue((e.Record.Name.Key, p.Target.Key), out var indexed) && ReferenceEquals(indexed, e))
                    _ptrIndex.Remove((e.Record.Name.Key, p.Target.Key));
                break;
            case SrvRecord srv:
                // The instance still points at the target if another cached SRV record of it does.
                if (_instancesByTarget.TryGetValue(srv.Target, out var users)
                    && !(_cache.TryGetValue((e.Record.Name.Key, DnsRecordType.SRV), out var rest) && rest.Exists(o => o != e && ((SrvRecord)o.Record).Target == srv.Target)))
                {
                    users.Remove(e.Record.Name);
                    if (users.Count == 0) _instancesByTarget.Remove(srv.Target);
                }
                _dirtyTargets.Add(srv.Target);
                break;
        }
        _count--;
        if (e.SourceNode is { List: { } fromSource } node)
        {
            fromSource.Remove(node);
            e.SourceNode = null;
            MoveSource(e.Source, fromSource.Count + 1, fromSource.Count);
            if (fromSource.Count == 0) _perSource.Remove(e.Source);
        }
    }

    private IEnumerable<CacheEntry> Live(DnsName name, DnsRecordType type, TimeSpan now)
    {
        if (!_cache.TryGetValue((name.Key, type), out var list)) yield break;
        foreach (var e in list) if (e.Expires > now) yield return e;
    }

    /// <summary>
    /// Recomputes what changed since the last call — the instances and hosts whose records were added, refreshed, flushed
    /// or expired (all of them after a browse starts or stops) — emits events and (de)schedules resolve queries. O(changed):
    /// with 1000 agents known, one agent's refresh answer recomputes that agent only (issue 13).
    /// </summary>
    private void Update(TimeSpan now)
    {
        if (_dirtyAll)
        {
            _dirtyAll = false;
            foreach (var name in _services.Keys) _dirtyInstances.Add(name);
            foreach (var name in _instanceQueries.Keys) _dirtyInstances.Add(name);
            foreach (var name in _wantedInstances) _dirtyInstances.Add(name);
            foreach (var type in _browses.Keys)
                foreach (var e in Live(type, DnsRecordType.PTR, now)) _dirtyInstances.Add(((PtrRecord)e.Record).Target);
            foreach (var target in _targetQueries.Keys) _dirtyTargets.Add(target);
            foreach (var host in _hostAddresses.Keys) _dirtyHosts.Add(host);
        }
        if (_dirtyInstances.Count == 0 && _dirtyHosts.Count == 0 && _dirtyTargets.Count == 0) return;
        foreach (var host in _dirtyHosts)
        {
            if (_instancesByTarget.TryGetValue(host, out var users)) _dirtyInstances.UnionWith(users);
            _dirtyTargets.Add(host);
        }
        var instances = _dirtyInstances.ToList();
        _dirtyInstances.Clear();
        foreach (var inst in instances) Evaluate(inst, now);
        // Drop host queries nobody needs any more (or that are answered).
        foreach (var target in _dirtyTargets)
            if (_targetQueries.ContainsKey(target) && (!TargetNeeded(target, now) || GetAddresses(target, now).Count > 0))
                _targetQueries.Remove(target);
        _dirtyTargets.Clear();
        foreach (var host in _dirtyHosts)
        {
            if (!_hostAddresses.TryGetValue(host, out var old)) continue;
            var now2 = GetAddresses(host, now);
            if (now2.Count == old.Count && now2.All(old.Contains)) continue;
            _hostAddresses[host] = now2;
            _events.Enqueue(new MdnsQuerierEvent(MdnsQuerierEventKind.HostAddressesChanged, HostName: host, Addresses: now2));
        }
        _dirtyHosts.Clear();
    }

    /// <summary>An instance of a browsed type that a live PTR record names, or that was asked for by name.</summary>
    private bool IsCandidate(DnsName inst, DnsName type, TimeSpan now)
        => _browses.ContainsKey(type)
           && (_wantedInstances.Contains(inst) || (_ptrIndex.TryGetValue((type.Key, inst.Key), out var ptr) && ptr.Expires > now));

    /// <summary>Recomputes one instance: resolve queries, then added / updated / removed.</summary>
    private void Evaluate(DnsName inst, TimeSpan now)
    {
        InstancesEvaluated++;
        var type = inst.Parent();
        if (!IsCandidate(inst, type, now))
        {
            _instanceQueries.Remove(inst);
            RemoveService(inst);
            return;
        }
        var srv = Live(inst, DnsRecordType.SRV, now).OrderByDescending(e => e.Received).Select(e => (SrvRecord)e.Record).FirstOrDefault();
        var txt = Live(inst, DnsRecordType.TXT, now).OrderByDescending(e => e.Received).Select(e => (TxtRecord)e.Record).FirstOrDefault();
        if (srv is null || txt is null)
        {
            if (!_instanceQueries.ContainsKey(inst)) _instanceQueries[inst] = new QueryTask(now, _o.InitialQueryInterval, _o.MaxResolveInterval);
        }
        else
        {
            _instanceQueries.Remove(inst);
        }
        IReadOnlyList<IPAddress> addrs = srv is null ? [] : GetAddresses(srv.Target, now);
        if (srv is not null)
        {
            _dirtyTargets.Add(srv.Target);
            if (addrs.Count == 0 && !_targetQueries.ContainsKey(srv.Target))
                _targetQueries[srv.Target] = new QueryTask(now, _o.InitialQueryInterval, _o.MaxResolveInterval);
        }
        if (srv is null || txt is null || addrs.Count == 0)
        {
            RemoveService(inst);
            return;
        }
        var instance = new MdnsServiceInstance(inst, inst.Labels[0], type, srv.Target, srv.Port, txt, addrs, _interfaceIndex);
        if (_services.TryGetValue(inst, out var old))
        {
            if (old.SameState(instance)) return;
            _services[inst] = instance;
            if (old.HostName != instance.HostName) _dirtyTargets.Add(old.HostName);
            _events.Enqueue(new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceUpdated, instance));
        }
        else
        {
            _services[inst] = instance;
            _events.Enqueue(new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceAdded, instance));
        }
    }

    private void RemoveService(DnsName inst)
    {
        if (!_services.Remove(inst, out var s)) return;
        _dirtyTargets.Add(s.HostName);
        _events.Enqueue(new MdnsQuerierEvent(MdnsQuerierEventKind.ServiceRemoved, s));
    }

    /// <summary>A candidate instance has a live SRV record pointing at <paramref name="target"/>.</summary>
    private bool TargetNeeded(DnsName target, TimeSpan now)
        => _instancesByTarget.TryGetValue(target, out var users)
           && users.Any(i => IsCandidate(i, i.Parent(), now) && Live(i, DnsRecordType.SRV, now).Any(s => ((SrvRecord)s.Record).Target == target));

    private TimeSpan Jitter(int minMs, int maxMs) => TimeSpan.FromMilliseconds(minMs + MdnsRandom.NextDouble(_random) * (maxMs - minMs));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private sealed class CacheEntry(DnsRecord record, IPAddress source)
    {
        public DnsRecord Record { get; set; } = record;
        public IPAddress Source { get; } = source;
        public TimeSpan Received { get; set; }
        public TimeSpan Expires { get; set; }
        public TimeSpan NextRefresh { get; set; }
        public int RefreshStep { get; set; }
        public LinkedListNode<CacheEntry>? SourceNode { get; set; }
        public TimeSpan DueAt { get; set; }
        public bool Queued { get; set; }
        public bool Removed { get; set; }
    }

    private sealed class QueryTask(TimeSpan first, TimeSpan interval, TimeSpan max)
    {
        private TimeSpan _interval = interval;

        public TimeSpan NextAt { get; private set; } = first;

        private int _sent;

        public bool Due(TimeSpan now) => Due(now, out _);

        public bool Due(TimeSpan now, out bool first)
        {
            first = _sent == 0;
            if (NextAt > now) return false;
            _sent++;
            NextAt = now + _interval;
            _interval = _interval * 2 > max ? max : _interval * 2;
            return true;
        }
    }
}
