using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OspBridge.Net.Core;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>
/// Sans-IO mDNS responder for one interface (RFC 6762 + DNS-SD RFC 6763). Publishes host names (A/AAAA)
/// and services (PTR/SRV/TXT), probing each unique name 3 × 250 ms with the §8.2 tie-break, renaming on
/// conflict ("Front Door (2)"), announcing, answering queries (QU bit, legacy unicast, known-answer
/// suppression, 20–120 ms aggregation of shared answers, NSEC negative answers, per-record rate limit,
/// duplicate-answer suppression), re-announcing on change and sending goodbyes (TTL 0).
/// <para>
/// Contract: <see cref="IProtocolCore{TEvent}"/> — feed datagrams with <see cref="Receive(Span{byte}, DatagramPath, TimeSpan)"/>
/// (or an already parsed message with <see cref="Receive(DnsMessage, IPEndPoint, TimeSpan)"/>), call
/// <see cref="HandleDeadline"/> when <see cref="NextDeadline"/> has passed, then drain
/// <see cref="TryPollTransmit"/> and <see cref="TryPollEvent"/>. <c>now</c> is a monotonic time; randomness
/// comes from <see cref="MdnsResponderOptions.Random"/>. Not thread-safe: drive it from one loop.
/// </para>
/// </summary>
public sealed class MdnsResponder : IProtocolCore<MdnsResponderEvent>
{
    private const int MaxTruncatedSources = 32;
    private const int MaxKnownAnswers = 1024;

    private readonly MdnsResponderOptions _o;
    private readonly RandomNumberGenerator _random;
    private readonly List<Entry> _entries = [];
    private readonly MdnsTransmitQueue _transmits;
    private readonly Queue<MdnsResponderEvent> _events = new();
    private readonly List<(Owned Owned, TimeSpan Due)> _pending = [];
    private readonly Dictionary<IPEndPoint, TruncatedQuery> _truncated = [];
    private TimeSpan _pendingAt = TimeSpan.MaxValue;
    private int _nextId = 1;

    /// <summary>
    /// Creates a responder for the interface with index <paramref name="interfaceIndex"/> (0 = unspecified;
    /// transmits carry it so the driver sends out of that interface). Jitter comes from
    /// <see cref="MdnsResponderOptions.Random"/> (seed it in tests).
    /// </summary>
    public MdnsResponder(MdnsResponderOptions? options = null, int interfaceIndex = 0)
    {
        _o = options ?? new MdnsResponderOptions();
        _random = _o.Random ?? RandomNumberGenerator.Create();
        _transmits = new MdnsTransmitQueue(_o.MulticastDestinations, interfaceIndex);
    }

    /// <summary>Options in use.</summary>
    public MdnsResponderOptions Options => _o;

    /// <summary>Malformed datagrams ignored so far.</summary>
    public long MalformedPackets { get; private set; }

    /// <summary>Publishes a host name with addresses; returns a registration id. Probing starts within 250 ms.</summary>
    public int AddHost(DnsName hostName, IEnumerable<IPAddress> addresses, TimeSpan now)
    {
        var e = new HostEntry(_nextId++, hostName);
        e.SetAddresses(addresses, this);
        StartProbing(e, now, initialDelay: true);
        _entries.Add(e);
        return e.Id;
    }

    /// <summary>Replaces a host's addresses: goodbyes for removed ones, announcement of the new set.</summary>
    public void SetHostAddresses(int id, IEnumerable<IPAddress> addresses, TimeSpan now)
    {
        var e = Find(id) as HostEntry ?? throw new NetException(NetError.InvalidState, $"no host registration {id}");
        var old = e.Records.ToList();
        e.SetAddresses(addresses, this);
        var gone = old.Where(o => !e.Records.Any(n => n.Record.SameRecord(o.Record))).Select(o => o.Record.WithTtl(0)).ToList();
        if (e.State != EntryState.Probing)
        {
            if (gone.Count > 0) Send(MdnsPacketBuilder.Responses(gone, []), null);
            e.Reannounce(now);
        }
    }

    /// <summary>Publishes a service; returns a registration id. Probing starts within 250 ms.</summary>
    public int AddService(MdnsServiceRegistration registration, TimeSpan now)
    {
        var e = new ServiceEntry(_nextId++, registration);
        e.Build(this);
        StartProbing(e, now, initialDelay: true);
        _entries.Add(e);
        return e.Id;
    }

    /// <summary>Replaces a service's TXT record and re-announces it.</summary>
    public void UpdateServiceTxt(int id, TxtProperties txt, TimeSpan now) => UpdateService(id, txt, null, now);

    /// <summary>
    /// Replaces a service's TXT record and/or SRV target host and re-announces (cache-flush replaces the old
    /// records at listeners; the instance name is unchanged, so no new probing is needed).
    /// </summary>
    public void UpdateService(int id, TxtProperties? txt, DnsName? hostName, TimeSpan now)
    {
        var e = Find(id) as ServiceEntry ?? throw new NetException(NetError.InvalidState, $"no service registration {id}");
        e.Registration = e.Registration with { Txt = txt ?? e.Registration.Txt, HostName = hostName ?? e.Registration.HostName };
        e.Build(this);
        if (e.State != EntryState.Probing) e.Reannounce(now);
    }

    /// <summary>The current unique name of a registration (changes after a rename).</summary>
    public DnsName GetName(int id) => (Find(id) ?? throw new NetException(NetError.InvalidState, $"no registration {id}")).Name;

    /// <summary>True once the registration's probing finished (announcing or established).</summary>
    public bool IsEstablished(int id) => Find(id) is { State: not EntryState.Probing };

    /// <summary>Withdraws a registration: sends goodbyes (TTL 0) if it was announced.</summary>
    public void Remove(int id, TimeSpan now)
    {
        var e = Find(id);
        if (e is null) return;
        _entries.Remove(e);
        _pending.RemoveAll(p => p.Owned.Owner == e);
        if (e.State == EntryState.Probing) return;
        var records = e.Records.Where(o => !(o.IsMetaPtr && _entries.OfType<ServiceEntry>().Any(s => s.Registration.ServiceType == ((ServiceEntry)e).Registration.ServiceType)))
            .Select(o => o.Record.WithTtl(0)).ToList();
        Send(MdnsPacketBuilder.Responses(records, []), null);
    }

    /// <summary>Withdraws everything (goodbyes for all announced records).</summary>
    public void Stop(TimeSpan now)
    {
        foreach (var e in _entries.ToList().OrderBy(e => e is HostEntry ? 1 : 0)) Remove(e.Id, now);
    }

    /// <summary>Next time <see cref="HandleDeadline"/> must be called, or null when idle.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            TimeSpan t = _pendingAt;
            foreach (var e in _entries) if (e.NextAction < t) t = e.NextAction;
            foreach (var q in _truncated.Values) if (q.Deadline < t) t = q.Deadline;
            return t == TimeSpan.MaxValue ? null : t;
        }
    }

    /// <summary>Datagrams waiting in <see cref="TryPollTransmit"/> (a multicast message counts once).</summary>
    public int PendingTransmits => _transmits.Count;

    /// <summary>Writes the next datagram to send (a multicast message once per configured group).</summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit) => _transmits.TryPoll(destination, out transmit);

    /// <summary>Takes the next event.</summary>
    public bool TryPollEvent([MaybeNullWhen(false)] out MdnsResponderEvent ev) => _events.TryDequeue(out ev);

    /// <summary>Parses and handles one datagram from <see cref="DatagramPath.Remote"/>; malformed ones are counted and ignored.</summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (path.Remote is { } source) Receive((ReadOnlySpan<byte>)datagram, source, now);
    }

    /// <summary>Runs timers due at <paramref name="now"/>: probes, announcements, delayed answers.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        foreach (var e in _entries.ToList())
        {
            if (e.NextAction > now) continue;
            switch (e.State)
            {
                case EntryState.Probing when e.ProbesSent < _o.ProbeCount:
                    SendProbe(e);
                    e.ProbesSent++;
                    e.NextAction = now + _o.ProbeInterval;
                    break;
                case EntryState.Probing:
                    e.State = EntryState.Announcing;
                    e.AnnouncementsSent = 0;
                    goto case EntryState.Announcing;
                case EntryState.Announcing:
                    Announce(e, now);
                    e.AnnouncementsSent++;
                    if (e.AnnouncementsSent == 1 && !e.EverEstablished)
                    {
                        e.EverEstablished = true;
                        _events.Enqueue(new MdnsResponderEvent(MdnsResponderEventKind.Established, e.Id, e.Name));
                    }
                    if (e.AnnouncementsSent >= _o.AnnounceCount)
                    {
                        e.State = EntryState.Established;
                        e.NextAction = TimeSpan.MaxValue;
                    }
                    else
                    {
                        e.NextAction = now + _o.AnnounceInterval * (1 << (e.AnnouncementsSent - 1));
                    }
                    break;
                default:
                    e.NextAction = TimeSpan.MaxValue;
                    break;
            }
        }
        foreach (var (src, q) in _truncated.ToList())
        {
            if (q.Deadline > now) continue;
            _truncated.Remove(src);
            Answer(q.Questions, q.KnownAnswers, src, now, defend: false);
        }
        if (_pendingAt <= now) FlushPending(now);
    }

    /// <summary>Parses and handles one datagram; malformed ones are counted and ignored.</summary>
    public void Receive(ReadOnlySpan<byte> datagram, IPEndPoint source, TimeSpan now)
    {
        if (!DnsMessage.TryParse(datagram, out var m)) { MalformedPackets++; return; }
        Receive(m!, source, now);
    }

    /// <summary>Handles one parsed message from <paramref name="source"/>.</summary>
    public void Receive(DnsMessage message, IPEndPoint source, TimeSpan now)
    {
        if (message.Header.Opcode != 0 || message.Header.ResponseCode != 0) return;
        if (message.IsResponse)
        {
            if (source.Port != MdnsConstants.Port) return; // RFC 6762 §6: not a valid mDNS response
            HandleResponse(message, now);
            return;
        }
        HandleQuery(message, source, now);
    }

    private void HandleResponse(DnsMessage m, TimeSpan now)
    {
        // Duplicate answer suppression (§7.4): only records in the answer section count ("the same answer
        // record"). An additional record does not: with multicast loopback our own earlier response (e.g. a
        // deferred SRV answer carrying TXT as an additional) can be processed after a newer query for that
        // record and would otherwise cancel the answer the querier is still waiting for.
        foreach (var r in m.Answers)
            _pending.RemoveAll(p => p.Owned.Record.SameRecord(r) && r.Ttl >= p.Owned.Record.Ttl / 2);
        foreach (var r in m.Answers.Concat(m.Additionals))
        {
            if (r.Ttl == 0) continue;
            foreach (var e in _entries.ToList())
            {
                if (!e.Records.Any(o => o.Unique && o.Record.Name == r.Name && o.Record.Type == r.Type && o.Record.Class == r.Class)) continue;
                if (e.Records.Any(o => o.Record.SameRecord(r))) continue; // identical: ours or a cooperating copy
                Conflict(e, now);
            }
        }
    }

    private void Conflict(Entry e, TimeSpan now)
    {
        e.ConflictCount++;
        if (e.State == EntryState.Probing)
        {
            var old = e.Name;
            e.Rename(this);
            _events.Enqueue(new MdnsResponderEvent(MdnsResponderEventKind.Renamed, e.Id, e.Name, old));
        }
        else
        {
            // §9: an announced record conflicts: probe again; a conflict while re-probing renames.
            _events.Enqueue(new MdnsResponderEvent(MdnsResponderEventKind.Conflict, e.Id, e.Name));
        }
        _pending.RemoveAll(p => p.Owned.Owner == e);
        StartProbing(e, now, initialDelay: true);
        // §8.1: after 15 conflicts within a short time, wait 5 s before probing again.
        if (e.ConflictCount >= 15) e.NextAction = now + TimeSpan.FromSeconds(5);
    }

    private void HandleQuery(DnsMessage m, IPEndPoint source, TimeSpan now)
    {
        // Simultaneous probe tie-break (§8.2) and probe defence.
        bool defend = false;
        if (m.Authorities.Count > 0)
        {
            foreach (var e in _entries)
            {
                if (!m.Questions.Any(q => q.Name == e.Name)) continue;
                var theirs = m.Authorities.Where(r => r.Name == e.Name).ToList();
                if (theirs.Count == 0) continue;
                if (e.State == EntryState.Probing)
                {
                    var ours = e.Records.Where(o => o.Unique && o.Record.Name == e.Name).Select(o => o.Record).ToList();
                    int cmp = CompareRecordSets(ours, theirs);
                    if (cmp < 0)
                    {
                        // We lose: wait one second and probe again (their records may be announced by then).
                        e.ProbesSent = 0;
                        e.NextAction = now + TimeSpan.FromSeconds(1);
                    }
                }
                else
                {
                    defend = true;
                }
            }
        }

        if (source.Port != MdnsConstants.Port)
        {
            AnswerLegacy(m, source);
            return;
        }

        if (_truncated.TryGetValue(source, out var pendingQ))
        {
            if (pendingQ.Questions.Count + m.Questions.Count <= MaxKnownAnswers) pendingQ.Questions.AddRange(m.Questions);
            if (pendingQ.KnownAnswers.Count + m.Answers.Count <= MaxKnownAnswers) pendingQ.KnownAnswers.AddRange(m.Answers);
            if (!m.Header.IsTruncated)
            {
                _truncated.Remove(source);
                Answer(pendingQ.Questions, pendingQ.KnownAnswers, source, now, defend);
            }
            return;
        }
        if (m.Header.IsTruncated && m.Questions.Count > 0 && _truncated.Count < MaxTruncatedSources)
        {
            // §7.2: more known answers follow; wait 400–500 ms for them.
            _truncated[source] = new TruncatedQuery([.. m.Questions], [.. m.Answers.Take(MaxKnownAnswers)], now + Jitter(400, 500));
            return;
        }
        if (m.Questions.Count > 0) Answer(m.Questions, m.Answers, source, now, defend);
    }

    private void Answer(List<DnsQuestion> questions, List<DnsRecord> known, IPEndPoint source, TimeSpan now, bool defend)
    {
        var unicast = new List<Owned>();
        var multicast = new List<Owned>();
        bool allUnique = true;
        foreach (var q in questions)
        {
            foreach (var o in Matching(q))
            {
                if (known.Any(k => k.SameRecord(o.Record) && k.Ttl >= o.Record.Ttl / 2)) continue; // §7.1
                bool viaUnicast = q.UnicastResponse && now - o.LastMulticast < o.Record.TtlSpan() / 4 && !defend;
                var list = viaUnicast ? unicast : multicast;
                if (!list.Contains(o)) list.Add(o);
                if (!o.Unique && !viaUnicast) allUnique = false;
            }
        }
        if (unicast.Count > 0)
        {
            var ans = unicast.Select(o => o.Record).ToList();
            Send(MdnsPacketBuilder.Responses(ans, Additionals(unicast, ans)), source);
        }
        if (multicast.Count == 0) return;
        var limit = defend ? TimeSpan.FromMilliseconds(250) : _o.RateLimit;
        var at = now + (allUnique ? TimeSpan.Zero : Jitter(20, 120));
        foreach (var o in multicast)
        {
            // Rate limit (§6): a record multicast less than a second ago is answered when the second is over.
            var due = o.LastMulticast + limit > at ? o.LastMulticast + limit : at;
            int i = _pending.FindIndex(p => p.Owned == o);
            if (i < 0) _pending.Add((o, due));
            else if (due < _pending[i].Due) _pending[i] = (o, due);
            if (due < _pendingAt) _pendingAt = due;
        }
    }

    private IEnumerable<Owned> Matching(DnsQuestion q)
    {
        foreach (var e in _entries)
        {
            if (e.State == EntryState.Probing) continue;
            bool any = false;
            foreach (var o in e.Records)
            {
                if (!q.Matches(o.Record)) continue;
                any = true;
                yield return o;
            }
            // §6.1 negative answer: we own the name but not this type.
            if (!any && q.Type != DnsRecordType.ANY && q.Name == e.Name && e.Nsec is { } nsec && q.Type != DnsRecordType.NSEC)
                yield return nsec;
            else if (q.Type == DnsRecordType.NSEC && q.Name == e.Name && e.Nsec is { } n2)
                yield return n2;
        }
    }

    private void AnswerLegacy(DnsMessage m, IPEndPoint source)
    {
        // §6.7: unicast to the source, id and questions echoed, no cache-flush bit, TTL ≤ 10 s.
        var answers = new List<Owned>();
        foreach (var q in m.Questions)
            foreach (var o in Matching(q))
                if (!answers.Contains(o)) answers.Add(o);
        if (answers.Count == 0) return;
        static DnsRecord Legacy(DnsRecord r) => r.WithTtl(Math.Min(r.Ttl, 10)).WithCacheFlush(false);
        var ans = answers.Select(o => o.Record).ToList();
        var add = Additionals(answers, ans).Select(Legacy).ToList();
        var questions = m.Questions.Select(q => q with { UnicastResponse = false }).ToList();
        Send(MdnsPacketBuilder.Responses(ans.Select(Legacy).ToList(), add, m.Header.Id,
            DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag, questions), source);
    }

    private List<DnsRecord> Additionals(List<Owned> answers, List<DnsRecord> answerRecords)
    {
        var add = new List<DnsRecord>();
        void Add(DnsRecord r)
        {
            if (!answerRecords.Any(a => a.SameRecord(r)) && !add.Any(a => a.SameRecord(r))) add.Add(r);
        }
        void AddHost(DnsName host)
        {
            foreach (var h in _entries.OfType<HostEntry>())
            {
                if (h.Name != host || h.State == EntryState.Probing) continue;
                foreach (var o in h.Records) Add(o.Record);
                if (h.Nsec is not null) Add(h.Nsec.Record);
            }
        }
        foreach (var o in answers)
        {
            switch (o.Owner)
            {
                case ServiceEntry s when o.Record is PtrRecord && !o.IsMetaPtr:
                    foreach (var r in s.Records) if (r.Unique) Add(r.Record);
                    if (s.Nsec is not null) Add(s.Nsec.Record);
                    AddHost(s.Registration.HostName);
                    break;
                case ServiceEntry s when o.Record is SrvRecord:
                    AddHost(s.Registration.HostName);
                    break;
                case HostEntry h when o.Record is ARecord or AaaaRecord:
                    AddHost(h.Name);
                    break;
            }
        }
        return add;
    }

    private void FlushPending(TimeSpan now)
    {
        var owned = _pending.Where(p => p.Due <= now).Select(p => p.Owned).ToList();
        _pending.RemoveAll(p => p.Due <= now);
        _pendingAt = _pending.Count == 0 ? TimeSpan.MaxValue : _pending.Min(p => p.Due);
        if (owned.Count == 0) return;
        foreach (var o in owned) o.LastMulticast = now;
        var ans = owned.Select(o => o.Record).ToList();
        Send(MdnsPacketBuilder.Responses(ans, Additionals(owned, ans)), null);
    }

    private void SendProbe(Entry e)
    {
        var q = new DnsQuestion(e.Name, DnsRecordType.ANY, DnsClass.IN, UnicastResponse: e.ProbesSent == 0);
        var auth = e.Records.Where(o => o.Unique && o.Record.Name == e.Name).Select(o => o.Record.WithCacheFlush(false)).ToList();
        Send(MdnsPacketBuilder.Queries([q], [], auth), null);
    }

    private void Announce(Entry e, TimeSpan now)
    {
        foreach (var o in e.Records) o.LastMulticast = now;
        var ans = e.Records.Select(o => o.Record).ToList();
        var add = e.Nsec is null ? [] : new List<DnsRecord> { e.Nsec.Record };
        if (e is ServiceEntry s)
            foreach (var h in _entries.OfType<HostEntry>())
                if (h.Name == s.Registration.HostName && h.State != EntryState.Probing)
                    add.AddRange(h.Records.Select(o => o.Record));
        Send(MdnsPacketBuilder.Responses(ans, add), null);
    }

    private void StartProbing(Entry e, TimeSpan now, bool initialDelay)
    {
        e.State = EntryState.Probing;
        e.ProbesSent = 0;
        e.NextAction = now + (initialDelay ? Jitter(0, (int)_o.ProbeInterval.TotalMilliseconds) : TimeSpan.Zero);
    }

    private void Send(List<byte[]> packets, IPEndPoint? unicast)
    {
        foreach (var p in packets) _transmits.Enqueue(p, unicast);
    }

    private TimeSpan Jitter(int minMs, int maxMs) => TimeSpan.FromMilliseconds(minMs + MdnsRandom.NextDouble(_random) * (maxMs - minMs));

    private Entry? Find(int id) => _entries.Find(e => e.Id == id);

    /// <summary>§8.2: compare sorted record sets; &lt;0 when ours is lexicographically earlier (we lose).</summary>
    internal static int CompareRecordSets(List<DnsRecord> ours, List<DnsRecord> theirs)
    {
        static int Cmp(DnsRecord a, DnsRecord b)
        {
            int c = a.Class.CompareTo(b.Class);
            if (c != 0) return c;
            c = ((ushort)a.Type).CompareTo((ushort)b.Type);
            if (c != 0) return c;
            return a.GetCanonicalData().AsSpan().SequenceCompareTo(b.GetCanonicalData());
        }
        ours = [.. ours];
        theirs = [.. theirs];
        ours.Sort(Cmp);
        theirs.Sort(Cmp);
        for (int i = 0; i < Math.Min(ours.Count, theirs.Count); i++)
        {
            int c = Cmp(ours[i], theirs[i]);
            if (c != 0) return c;
        }
        return ours.Count.CompareTo(theirs.Count);
    }

    private uint HostTtl => (uint)_o.HostRecordTtl.TotalSeconds;

    private uint OtherTtl => (uint)_o.OtherRecordTtl.TotalSeconds;

    private enum EntryState { Probing, Announcing, Established }

    private sealed class Owned(Entry owner, DnsRecord record, bool unique, bool isMetaPtr = false)
    {
        public Entry Owner { get; } = owner;
        public DnsRecord Record { get; } = record;
        public bool Unique { get; } = unique;
        public bool IsMetaPtr { get; } = isMetaPtr;
        public TimeSpan LastMulticast { get; set; } = TimeSpan.MinValue / 2;
    }

    private sealed record TruncatedQuery(List<DnsQuestion> Questions, List<DnsRecord> KnownAnswers, TimeSpan Deadline);

    private abstract class Entry(int id, DnsName name)
    {
        public int Id { get; } = id;
        public DnsName Name { get; protected set; } = name;
        public EntryState State { get; set; }
        public int ProbesSent { get; set; }
        public int AnnouncementsSent { get; set; }
        public TimeSpan NextAction { get; set; } = TimeSpan.MaxValue;
        public bool EverEstablished { get; set; }
        public int ConflictCount { get; set; }
        public int RenameCount { get; set; } = 1;
        public List<Owned> Records { get; } = [];
        public Owned? Nsec { get; protected set; }
        public abstract void Rename(MdnsResponder r);

        /// <summary>Announces the entry again from the first announcement, at once (RFC 6762 §8.4: changed data).</summary>
        public void Reannounce(TimeSpan now)
        {
            State = EntryState.Announcing;
            AnnouncementsSent = 0;
            NextAction = now;
        }
    }

    private sealed class HostEntry(int id, DnsName name) : Entry(id, name)
    {
        private readonly string _baseLabel = name.Labels[0];
        private List<IPAddress> _addresses = [];

        public void SetAddresses(IEnumerable<IPAddress> addresses, MdnsResponder r)
        {
            _addresses = addresses.Distinct().ToList();
            Build(r);
        }

        private void Build(MdnsResponder r)
        {
            Records.Clear();
            foreach (var a in _addresses)
            {
                DnsRecord rec = a.AddressFamily == AddressFamily.InterNetwork
                    ? new ARecord(Name, a, r.HostTtl)
                    : new AaaaRecord(Name, a, r.HostTtl);
                Records.Add(new Owned(this, rec, unique: true));
            }
            var types = Records.Select(o => o.Record.Type).Distinct().ToList();
            Nsec = new Owned(this, new NsecRecord(Name, Name, types, r.HostTtl), unique: true);
        }

        public override void Rename(MdnsResponder r)
        {
            RenameCount++;
            string label = MdnsServiceRegistration.Utf8Prefix(_baseLabel, DnsName.MaxLabelLength - 4) + "-" + RenameCount;
            Name = Name.Parent().Prepend(label);
            Build(r);
        }
    }

    private sealed class ServiceEntry(int id, MdnsServiceRegistration reg)
        : Entry(id, reg.ServiceType.Prepend(reg.InstanceName))
    {
        public MdnsServiceRegistration Registration { get; set; } = reg;

        public void Build(MdnsResponder r)
        {
            Records.Clear();
            var reg = Registration;
            Records.Add(new Owned(this, new PtrRecord(reg.ServiceType, Name, r.OtherTtl), unique: false));
            Records.Add(new Owned(this, new SrvRecord(Name, 0, 0, reg.Port, reg.HostName, r.HostTtl), unique: true));
            Records.Add(new Owned(this, new TxtRecord(Name, reg.Txt, r.OtherTtl), unique: true));
            Records.Add(new Owned(this, new PtrRecord(MdnsConstants.ServicesMetaQuery, reg.ServiceType, r.OtherTtl), unique: false, isMetaPtr: true));
            Nsec = new Owned(this, new NsecRecord(Name, Name, [DnsRecordType.TXT, DnsRecordType.SRV], r.HostTtl), unique: true);
        }

        public override void Rename(MdnsResponder r)
        {
            RenameCount++;
            var renamer = Registration.Renamer ?? MdnsServiceRegistration.DefaultRename;
            Name = Registration.ServiceType.Prepend(renamer(Registration.InstanceName, RenameCount));
            Build(r);
        }
    }
}

internal static class DnsRecordTtlExtensions
{
    public static TimeSpan TtlSpan(this DnsRecord r) => TimeSpan.FromSeconds(r.Ttl);
}
