using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Net.Core;
using OspBridge.WebRtc.Stun;

namespace OspBridge.WebRtc.Ice;

/// <summary>
/// A sans-IO ICE agent (RFC 8445), full or lite, for one component (BUNDLE + rtcp-mux). Inputs: local bases,
/// remote credentials and candidates, received datagrams and <c>now</c>; outputs: <see cref="TryPollTransmit"/>
/// (each with the local base and remote address as its <see cref="DatagramPath"/>), <see cref="NextDeadline"/> and
/// queued <see cref="IceEvent"/>s (candidates gathered, gathering complete, state, selected pair, data from a
/// validated pair). Consent freshness follows RFC 7675. Implements the sans-IO contract
/// <see cref="IProtocolCore{TEvent}"/>: no clock, no sockets, no locks, randomness from
/// <see cref="IceAgentOptions.Random"/>; drive it from one serialized loop.
/// </summary>
public sealed class IceAgent : IProtocolCore<IceEvent>
{
    private static readonly RandomNumberGenerator SystemRandom = RandomNumberGenerator.Create();
    private readonly IceAgentOptions _options;
    private readonly RandomNumberGenerator _random;
    private readonly Queue<IceEvent> _events = new();
    private byte[] _localKey;
    private byte[] _remoteKey = [];
    private readonly List<IceLocalCandidate> _local = [];
    private readonly List<IceCandidate> _remote = [];
    private readonly List<IceCandidatePair> _pairs = [];
    private readonly Queue<IceCandidatePair> _triggered = new();
    private readonly Queue<IceTransmit> _transmits = new();
    private readonly Dictionary<UInt128, Transaction> _transactions = [];
    private readonly List<(IPEndPoint Local, IPEndPoint Remote, uint Priority, bool UseCandidate)> _earlyChecks = [];
    private TimeSpan _nextCheckAt = TimeSpan.MaxValue;
    private TimeSpan? _firstValidAt;
    private TimeSpan _checkingStartedAt;
    private TimeSpan _lastConsent;
    private TimeSpan _nextConsentAt = TimeSpan.MaxValue;
    private bool _started;
    private bool _remoteGatheringComplete;
    private bool _restarting;
    private int _prflxCounter;

    private sealed class Transaction
    {
        public required IceCandidatePair Pair;
        public required byte[] Bytes;
        public required TimeSpan FirstSent;
        public TimeSpan NextRetransmit;
        public TimeSpan Rto;
        public int Transmissions;
        public bool UseCandidate;
        public bool Consent;
        public IceRole RoleAtSend;
    }

    /// <summary>Creates an agent.</summary>
    public IceAgent(IceAgentOptions? options = null)
    {
        _options = options ?? new IceAgentOptions();
        _random = _options.Random ?? SystemRandom;
        LocalCredentials = _options.LocalCredentials ?? IceCredentials.Generate(_random);
        _localKey = Encoding.UTF8.GetBytes(LocalCredentials.Password);
        TieBreaker = _options.TieBreaker ?? BinaryPrimitives.ReadUInt64BigEndian(RandomBytes(8));
        Role = _options.Lite ? IceRole.Controlled : IceRole.Controlling;
    }

    /// <summary>Our credentials (new ones after <see cref="Restart"/>).</summary>
    public IceCredentials LocalCredentials { get; private set; }

    /// <summary>True from <see cref="Restart"/> until a pair of the new ICE session is selected (media stays on the old pair meanwhile).</summary>
    public bool IsRestarting => _restarting;

    /// <summary>ICE restarts done (<see cref="Restart"/> calls).</summary>
    public int Restarts { get; private set; }
    /// <summary>The peer's credentials, once known.</summary>
    public IceCredentials? RemoteCredentials { get; private set; }
    /// <summary>Our tie-breaker.</summary>
    public ulong TieBreaker { get; }
    /// <summary>Current role (may flip on a role conflict).</summary>
    public IceRole Role { get; private set; }
    /// <summary>True in ICE-lite mode.</summary>
    public bool IsLite => _options.Lite;
    /// <summary>True when the remote agent declared <c>a=ice-lite</c>.</summary>
    public bool RemoteIsLite { get; private set; }
    /// <summary>Current state.</summary>
    public RTCIceConnectionState State { get; private set; } = RTCIceConnectionState.New;
    /// <summary>The selected pair, or null.</summary>
    public IceCandidatePair? SelectedPair { get; private set; }
    /// <summary>Local candidates.</summary>
    public IReadOnlyList<IceLocalCandidate> LocalCandidates => _local;
    /// <summary>Remote candidates (signalled and peer-reflexive).</summary>
    public IReadOnlyList<IceCandidate> RemoteCandidates => _remote;
    /// <summary>The checklist.</summary>
    public IReadOnlyList<IceCandidatePair> Pairs => _pairs;
    /// <summary>Time of the last consent (successful response on the selected pair, or for lite: authenticated request).</summary>
    public TimeSpan LastConsent => _lastConsent;

    /// <summary>True once <see cref="CompleteGathering"/> was called.</summary>
    public bool GatheringComplete { get; private set; }

    private byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        _random.GetBytes(b);
        return b;
    }

    private double RandomDouble()
    {
        Span<byte> b = stackalloc byte[4];
        _random.GetBytes(b);
        return (BinaryPrimitives.ReadUInt32LittleEndian(b) >> 8) / (double)(1 << 24);
    }

    /// <inheritdoc/>
    public bool TryPollEvent(out IceEvent ev) => _events.TryDequeue(out ev);

    /// <summary>Sets the role explicitly (offerer = controlling, answerer = controlled; against a lite peer we control).</summary>
    public void SetRole(IceRole role)
    {
        if (_options.Lite && role == IceRole.Controlling) throw new WebRtcException(WebRtcError.InvalidState, "an ICE-lite agent is always controlled");
        Role = role;
        RecomputePriorities();
    }

    /// <summary>
    /// Adds a host candidate for the socket bound at <paramref name="baseEndPoint"/>. When <paramref name="mdnsHostName"/>
    /// is given, the signalled candidate carries that name instead of the IP. Returns the candidate to signal.
    /// </summary>
    public IceCandidate AddLocalHostCandidate(IPEndPoint baseEndPoint, string? mdnsHostName = null, int localPreference = -1)
    {
        ArgumentNullException.ThrowIfNull(baseEndPoint);
        if (localPreference < 0)
            localPreference = 65535 - _local.Count * 256 - (baseEndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? 0 : 128);
        string foundation = Foundation("host", baseEndPoint.Address);
        var cand = new IceCandidate
        {
            Foundation = foundation,
            Priority = IceCandidate.ComputePriority(IceCandidateType.Host, Math.Max(0, localPreference)),
            Address = mdnsHostName ?? baseEndPoint.Address.ToString(),
            Port = baseEndPoint.Port,
            Type = IceCandidateType.Host,
            Extensions = [new("generation", "0")],
        };
        var lc = new IceLocalCandidate(cand, baseEndPoint);
        _local.Add(lc);
        foreach (var r in _remote.ToList()) TryAddPair(lc, r);
        _events.Enqueue(new IceEvent(IceEventKind.CandidateGathered, Candidate: cand));
        return cand;
    }

    /// <summary>Local gathering is done (every local base was added): queues <see cref="IceEventKind.GatheringComplete"/> once.</summary>
    public void CompleteGathering()
    {
        if (GatheringComplete) return;
        GatheringComplete = true;
        _events.Enqueue(new IceEvent(IceEventKind.GatheringComplete));
    }

    private static string Foundation(string type, IPAddress baseAddress)
    {
        // Same type + base + transport => same foundation (RFC 8445 §5.1.1.3); a short stable hash.
        uint h = Crc32Hash(type + "/" + baseAddress + "/udp");
        return (h % 4_000_000_000u).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static uint Crc32Hash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return h;
    }

    /// <summary>Sets the remote ufrag/pwd (from the remote description) and whether the remote is ICE-lite.</summary>
    public void SetRemoteCredentials(IceCredentials credentials, bool remoteIsLite = false)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        RemoteCredentials = credentials;
        _remoteKey = Encoding.UTF8.GetBytes(credentials.Password);
        RemoteIsLite = remoteIsLite;
        if (remoteIsLite && !_options.Lite) Role = IceRole.Controlling;
        RecomputePriorities();
        foreach (var e in _earlyChecks) LearnFromRequest(e.Local, e.Remote, e.Priority, e.UseCandidate, TimeSpan.Zero, replay: true);
        _earlyChecks.Clear();
    }

    /// <summary>
    /// Adds a remote candidate whose address is an IP literal (resolve <c>.local</c> names first and pass a copy with the
    /// IP). Candidates of other transports or components, or with host names, are ignored. Returns true when added.
    /// </summary>
    public bool AddRemoteCandidate(IceCandidate candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (candidate.Transport != "udp" || candidate.Component != 1 || candidate.EndPoint is not { } ep) return false;
        if (_remote.Count >= _options.MaxRemoteCandidates) return false;
        // A signalled candidate replaces a peer-reflexive one with the same address (RFC 8445 §7.3.1.3 note).
        int existing = _remote.FindIndex(r => Same(r.EndPoint!, ep));
        if (existing >= 0)
        {
            if (_remote[existing].Type == IceCandidateType.PeerReflexive)
            {
                _remote[existing] = candidate;
                foreach (var p in _pairs.Where(p => Same(p.RemoteEndPoint, ep))) p.Remote = candidate;
                RecomputePriorities();
            }
            return false;
        }
        _remote.Add(candidate);
        foreach (var l in _local) TryAddPair(l, candidate);
        return true;
    }

    /// <summary>The remote signalled end-of-candidates: once every pair failed, the agent fails.</summary>
    public void SetRemoteGatheringComplete() => _remoteGatheringComplete = true;

    /// <summary>
    /// ICE restart (RFC 8445 §9, RFC 8839 §4.4.1.1.1): new local credentials (from the agent's random source), the peer's new
    /// <paramref name="remote"/> credentials, a new checklist and no remote candidates (they come again, signalled or
    /// peer-reflexive); the local candidates are kept. The selected pair keeps carrying data (and consent, now under the
    /// new credentials) until a pair of the new session is selected, which replaces it whatever its priority. Returns the
    /// new local credentials (<paramref name="local"/> when given: an offerer that already sent its new ones). Only after
    /// <see cref="Start"/>; the state does not change (a failed agent goes back to checking).
    /// </summary>
    public IceCredentials Restart(IceCredentials remote, TimeSpan now, IceCredentials? local = null)
    {
        ArgumentNullException.ThrowIfNull(remote);
        if (!_started || State == RTCIceConnectionState.Closed) throw new WebRtcException(WebRtcError.InvalidState, "ICE restart before ICE started or after it closed");
        local ??= IceCredentials.Generate(_random);
        LocalCredentials = local;
        _localKey = Encoding.UTF8.GetBytes(local.Password);
        RemoteCredentials = remote;
        _remoteKey = Encoding.UTF8.GetBytes(remote.Password);
        _remote.Clear();
        _pairs.Clear();
        _triggered.Clear();
        _transactions.Clear();
        _earlyChecks.Clear();
        _remoteGatheringComplete = false;
        _firstValidAt = null;
        _checkingStartedAt = now;
        _nextCheckAt = _options.Lite ? TimeSpan.MaxValue : now;
        Restarts++;
        if (State == RTCIceConnectionState.Failed)
        {
            // A failed agent starts over: nothing is selected, checks begin again.
            SelectedPair = null;
            _restarting = false;
            SetState(RTCIceConnectionState.Checking);
        }
        else
        {
            _restarting = SelectedPair is not null;
            if (SelectedPair is not null) _lastConsent = now; // the peer answers consent under the new credentials once it has them
        }
        return local;
    }

    /// <summary>Starts connectivity checks (full agent) at <paramref name="now"/>. Call once both descriptions are set.</summary>
    public void Start(TimeSpan now)
    {
        if (_started) return;
        _started = true;
        _checkingStartedAt = now;
        if (RemoteCredentials is null) throw new WebRtcException(WebRtcError.InvalidState, "remote ICE credentials are not set");
        SetState(RTCIceConnectionState.Checking);
        _nextCheckAt = _options.Lite ? TimeSpan.MaxValue : now;
    }

    /// <summary>Closes the agent: no more transmissions.</summary>
    public void Close()
    {
        _transactions.Clear();
        _triggered.Clear();
        _transmits.Clear();
        _nextCheckAt = _nextConsentAt = TimeSpan.MaxValue;
        SetState(RTCIceConnectionState.Closed);
    }

    private static bool Same(IPEndPoint a, IPEndPoint b) => a.Port == b.Port && Normalize(a.Address).Equals(Normalize(b.Address));
    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private IceCandidatePair? TryAddPair(IceLocalCandidate local, IceCandidate remote)
    {
        var rep = remote.EndPoint!;
        if (Normalize(local.Base.Address).AddressFamily != Normalize(rep.Address).AddressFamily) return null;
        // IPv6 link-local only pairs with link-local, and vice versa.
        if (rep.AddressFamily == AddressFamily.InterNetworkV6 && rep.Address.IsIPv6LinkLocal != local.Base.Address.IsIPv6LinkLocal) return null;
        var found = _pairs.Find(p => p.Local.Base.Equals(local.Base) && Same(p.RemoteEndPoint, rep));
        if (found is not null) return found;
        if (_pairs.Count >= _options.MaxPairs)
        {
            // Drop the lowest-priority frozen/waiting pair to make room, else refuse.
            var victim = _pairs.Where(p => p.State is IceCandidatePairState.Frozen or IceCandidatePairState.Waiting).MinBy(p => p.Priority);
            if (victim is null) return null;
            _pairs.Remove(victim);
        }
        var pair = new IceCandidatePair(local, remote, rep);
        pair.Priority = PairPriority(pair);
        // Unfreeze the first pair of a new foundation (RFC 8445 §6.1.2.6, single component).
        pair.State = _pairs.Any(p => p.Foundation == pair.Foundation) ? IceCandidatePairState.Frozen : IceCandidatePairState.Waiting;
        _pairs.Add(pair);
        _pairs.Sort((a, b) => b.Priority.CompareTo(a.Priority));
        return pair;
    }

    private ulong PairPriority(IceCandidatePair p) => Role == IceRole.Controlling
        ? IceCandidatePair.ComputePriority(p.Local.Candidate.Priority, p.Remote.Priority)
        : IceCandidatePair.ComputePriority(p.Remote.Priority, p.Local.Candidate.Priority);

    private void RecomputePriorities()
    {
        foreach (var p in _pairs) p.Priority = PairPriority(p);
        _pairs.Sort((a, b) => b.Priority.CompareTo(a.Priority));
    }

    /// <inheritdoc/>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        while (_transmits.TryDequeue(out var t))
        {
            if (t.Data.Length > destination.Length) continue; // cannot happen with STUN sizes; never throw
            t.Data.CopyTo(destination);
            transmit = new Transmit(t.Data.Length, new DatagramPath(t.Local, t.Remote));
            return true;
        }
        transmit = default;
        return false;
    }

    /// <summary>True when a datagram is waiting in <see cref="TryPollTransmit"/>.</summary>
    public bool HasTransmit => _transmits.Count > 0;

    /// <inheritdoc/>
    public TimeSpan? NextDeadline => NextTimeout is var t && t == TimeSpan.MaxValue ? null : t;

    private TimeSpan NextTimeout
    {
        get
        {
            if (State == RTCIceConnectionState.Closed) return TimeSpan.MaxValue;
            var t = _nextCheckAt;
            if (_nextConsentAt < t) t = _nextConsentAt;
            foreach (var tx in _transactions.Values) if (tx.NextRetransmit < t) t = tx.NextRetransmit;
            if (_started && ((SelectedPair is null && State == RTCIceConnectionState.Checking) || _restarting))
            {
                var deadline = _checkingStartedAt + _options.CheckingTimeout;
                if (deadline < t) t = deadline;
                if (_firstValidAt is { } fv && Role == IceRole.Controlling && !_options.Lite && !NominationUnderWay && fv + _options.NominationDelay < t)
                    t = fv + _options.NominationDelay;
            }
            if (SelectedPair is not null && State is RTCIceConnectionState.Connected or RTCIceConnectionState.Completed or RTCIceConnectionState.Disconnected)
            {
                var d = _lastConsent + (State == RTCIceConnectionState.Disconnected ? _options.ConsentTimeout : _options.DisconnectedTimeout);
                if (d < t) t = d;
            }
            return t;
        }
    }

    /// <summary>Runs due timers: pacing, retransmissions, nomination, consent and failure detection.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        if (State is RTCIceConnectionState.Closed or RTCIceConnectionState.Failed) return;

        // Retransmissions.
        foreach (var (id, tx) in _transactions.ToList())
        {
            if (tx.NextRetransmit > now) continue;
            if (tx.Consent || tx.Transmissions >= _options.MaxTransmissions)
            {
                _transactions.Remove(id);
                if (!tx.Consent && (tx.Pair.State == IceCandidatePairState.InProgress || tx.UseCandidate))
                {
                    tx.Pair.State = IceCandidatePairState.Failed;
                    tx.Pair.NominateOnSuccess = false;
                }
                continue;
            }
            tx.Transmissions++;
            tx.Rto = TimeSpan.FromTicks(Math.Min(tx.Rto.Ticks * 2, _options.MaxRto.Ticks));
            tx.NextRetransmit = now + tx.Rto;
            _transmits.Enqueue(new IceTransmit(tx.Pair.Local.Base, tx.Pair.RemoteEndPoint, tx.Bytes));
        }

        // Paced checks (one per Ta).
        if (!_options.Lite && _started && now >= _nextCheckAt)
        {
            var pair = NextPairToCheck();
            if (pair is not null)
            {
                SendCheck(pair, now, useCandidate: Role == IceRole.Controlling && pair.NominateOnSuccess);
                _nextCheckAt = now + _options.Ta;
            }
            else
            {
                _nextCheckAt = TimeSpan.MaxValue; // re-armed when a pair becomes Waiting or a trigger arrives
            }
        }

        // Controlling: nominate once the best pair is known or the delay ran out.
        if (Role == IceRole.Controlling && !_options.Lite && (SelectedPair is null || _restarting)) MaybeNominate(now);

        // Consent freshness (RFC 7675).
        if (SelectedPair is { } sel)
        {
            // A restart the peer never joined (its answer or candidates were lost): stay on the old pair and stop the
            // new session's checks, or the checking deadline stays in the past.
            if (_restarting && now - _checkingStartedAt >= _options.CheckingTimeout) _restarting = false;
            if (!_options.Lite && now >= _nextConsentAt)
            {
                SendConsent(sel, now);
                double jitter = 0.8 + 0.4 * RandomDouble();
                _nextConsentAt = now + TimeSpan.FromTicks((long)(_options.ConsentInterval.Ticks * jitter));
            }
            var silent = now - _lastConsent;
            if (silent >= _options.ConsentTimeout)
            {
                Fail();
                return;
            }
            if (silent >= _options.DisconnectedTimeout && State is RTCIceConnectionState.Connected or RTCIceConnectionState.Completed)
                SetState(RTCIceConnectionState.Disconnected);
        }
        else if (_started && State == RTCIceConnectionState.Checking)
        {
            bool allDone = _pairs.Count > 0 && _pairs.All(p => p.State == IceCandidatePairState.Failed) && _triggered.Count == 0;
            if ((allDone && _remoteGatheringComplete) || now - _checkingStartedAt >= _options.CheckingTimeout) Fail();
        }
    }

    private void Fail()
    {
        _restarting = false;
        _transactions.Clear();
        _triggered.Clear();
        _nextCheckAt = _nextConsentAt = TimeSpan.MaxValue;
        SetState(RTCIceConnectionState.Failed);
    }

    private IceCandidatePair? NextPairToCheck()
    {
        while (_triggered.TryDequeue(out var t))
        {
            t.Triggered = false;
            if (_pairs.Contains(t) && t.State != IceCandidatePairState.InProgress) return t;
        }
        if (SelectedPair is not null && !_restarting) return null; // no ordinary checks after selection; consent keeps the pair alive
        var w = _pairs.FirstOrDefault(p => p.State == IceCandidatePairState.Waiting);
        if (w is not null) return w;
        var f = _pairs.FirstOrDefault(p => p.State == IceCandidatePairState.Frozen);
        if (f is not null) { f.State = IceCandidatePairState.Waiting; return f; }
        return null;
    }

    private void Trigger(IceCandidatePair pair, TimeSpan now)
    {
        if (_options.Lite || pair.Triggered) return;
        pair.Triggered = true;
        _triggered.Enqueue(pair);
        if (_started && _nextCheckAt > now) _nextCheckAt = now;
    }

    private void ArmChecks(TimeSpan now)
    {
        if (_started && !_options.Lite && _nextCheckAt == TimeSpan.MaxValue) _nextCheckAt = now;
    }

    private byte[] BuildRequest(ReadOnlySpan<byte> txid, IceCandidatePair pair, bool useCandidate)
    {
        var b = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.Request, txid)
            .AddUsername(RemoteCredentials!.Ufrag + ":" + LocalCredentials.Ufrag);
        if (_options.Software is { } sw) b.AddSoftware(sw);
        b.AddPriority(IceCandidate.ComputePriority(IceCandidateType.PeerReflexive, (int)((pair.Local.Candidate.Priority >> 8) & 0xFFFF)))
         .AddIceRole(Role == IceRole.Controlling, TieBreaker);
        if (useCandidate) b.AddUseCandidate();
        return b.AddMessageIntegrity(_remoteKey).AddFingerprint().ToArray();
    }

    private void SendCheck(IceCandidatePair pair, TimeSpan now, bool useCandidate)
    {
        if (RemoteCredentials is null) return;
        var txid = RandomBytes(12);
        var bytes = BuildRequest(txid, pair, useCandidate);
        if (pair.State is IceCandidatePairState.Waiting or IceCandidatePairState.Frozen or IceCandidatePairState.Failed)
            pair.State = IceCandidatePairState.InProgress;
        _transactions[Key(txid)] = new Transaction
        {
            Pair = pair, Bytes = bytes, FirstSent = now, Rto = _options.InitialRto, NextRetransmit = now + _options.InitialRto,
            Transmissions = 1, UseCandidate = useCandidate, RoleAtSend = Role,
        };
        _transmits.Enqueue(new IceTransmit(pair.Local.Base, pair.RemoteEndPoint, bytes));
    }

    private void SendConsent(IceCandidatePair pair, TimeSpan now)
    {
        if (RemoteCredentials is null) return;
        var txid = RandomBytes(12);
        var bytes = BuildRequest(txid, pair, useCandidate: false);
        _transactions[Key(txid)] = new Transaction
        {
            Pair = pair, Bytes = bytes, FirstSent = now, Rto = _options.ConsentInterval, NextRetransmit = now + _options.ConsentTimeout,
            Transmissions = 1, Consent = true, RoleAtSend = Role,
        };
        _transmits.Enqueue(new IceTransmit(pair.Local.Base, pair.RemoteEndPoint, bytes));
    }

    private void MaybeNominate(TimeSpan now)
    {
        if (NominationUnderWay) return;
        var best = _pairs.Where(p => p.State == IceCandidatePairState.Succeeded).MaxBy(p => p.Priority);
        if (best is null) return;
        bool betterPending = _pairs.Any(p => p.Priority > best.Priority && p.State is IceCandidatePairState.Waiting or IceCandidatePairState.InProgress or IceCandidatePairState.Frozen);
        if (betterPending && now < _firstValidAt + _options.NominationDelay) return;
        best.NominateOnSuccess = true;
        Trigger(best, now);
    }

    private bool NominationUnderWay => _pairs.Any(p => p.NominateOnSuccess && p.State != IceCandidatePairState.Failed);

    private static UInt128 Key(ReadOnlySpan<byte> txid) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(txid), BinaryPrimitives.ReadUInt64BigEndian(txid[4..]));

    /// <summary>
    /// Feeds one datagram received on the socket <c>path.Local</c> from <c>path.Remote</c> (both required; a
    /// datagram without them is dropped). STUN goes to the agent; anything else is queued as
    /// <see cref="IceEventKind.DataReceived"/> when it came over a validated pair (<see cref="IsValidated"/>) and
    /// dropped otherwise.
    /// </summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (path.Local is not { } local || path.Remote is not { } remote) return;
        if (PacketDemux.Classify(datagram) == PacketKind.Stun) { ReceiveStun(datagram, local, remote, now); return; }
        if (State is not (RTCIceConnectionState.Closed or RTCIceConnectionState.Failed) && IsValidated(local, remote) && _events.Count < MaxQueuedEvents)
            _events.Enqueue(new IceEvent(IceEventKind.DataReceived, Data: datagram.ToArray(), Local: local, Remote: remote));
    }

    private const int MaxQueuedEvents = 4096;

    /// <summary>
    /// True when <paramref name="remote"/> → <paramref name="local"/> is a pair ICE has validated: one of our checks on
    /// it succeeded, or the peer sent an authenticated check on it (it knows our password). Only such pairs may carry
    /// DTLS, SCTP or media (RFC 8445 §7.3.1.5 / issue 9: no data from addresses ICE has not seen).
    /// </summary>
    public bool IsValidated(IPEndPoint local, IPEndPoint remote)
    {
        if (SelectedPair is { } sel && Same(sel.RemoteEndPoint, remote) && SameBase(sel.Local.Base, local)) return true;
        foreach (var p in _pairs)
            if ((p.State == IceCandidatePairState.Succeeded || p.AuthenticatedRequestSeen) && Same(p.RemoteEndPoint, remote) && SameBase(p.Local.Base, local))
                return true;
        return false;
    }

    private static bool SameBase(IPEndPoint b, IPEndPoint local) => b.Equals(local) || (b.Port == local.Port && Normalize(b.Address).Equals(Normalize(local.Address)));

    /// <summary>
    /// Processes one datagram the caller classified as STUN (RFC 7983), received on <paramref name="local"/> from
    /// <paramref name="remote"/>. Returns false when it is not a STUN message (parsing failed).
    /// </summary>
    public bool ReceiveStun(ReadOnlySpan<byte> datagram, IPEndPoint local, IPEndPoint remote, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        if (State == RTCIceConnectionState.Closed) return false;
        if (PacketDemux.Classify(datagram) != PacketKind.Stun || !StunMessage.TryParse(datagram, out var msg) || msg is null) return false;
        if (msg.Method != StunConstants.BindingMethod) return true; // not ours; consumed and ignored
        switch (msg.Class)
        {
            case StunClass.Request: HandleRequest(local, remote, msg, now); break;
            case StunClass.SuccessResponse:
            case StunClass.ErrorResponse: HandleResponse(local, remote, msg, now); break;
            default: break; // Binding indications: keepalives, nothing to do
        }
        return true;
    }

    private void HandleRequest(IPEndPoint local, IPEndPoint remote, StunMessage msg, TimeSpan now)
    {
        // RFC 8445 §7.3 / RFC 8489 §9.1.3: short-term credential checks.
        string? user = msg.Username;
        if (user is null || !msg.HasMessageIntegrity)
        {
            SendError(local, remote, msg, StunErrorCode.BadRequest, "Bad Request", withIntegrity: false);
            return;
        }
        int colon = user.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || user[..colon] != LocalCredentials.Ufrag || !msg.VerifyMessageIntegrity(_localKey))
        {
            SendError(local, remote, msg, StunErrorCode.Unauthorized, "Unauthorized", withIntegrity: false);
            return;
        }
        var unknown = msg.UnknownRequiredAttributes();
        if (unknown.Count > 0)
        {
            var eb = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.ErrorResponse, msg.TransactionId)
                .AddErrorCode(StunErrorCode.UnknownAttribute, "Unknown Attribute").AddUnknownAttributes(unknown);
            _transmits.Enqueue(new IceTransmit(local, remote, eb.AddMessageIntegrity(_localKey).AddFingerprint().ToArray()));
            return;
        }
        uint? prio = msg.Priority;
        if (prio is null)
        {
            SendError(local, remote, msg, StunErrorCode.BadRequest, "Bad Request", withIntegrity: true);
            return;
        }
        // Role conflict (RFC 8445 §7.3.1.1).
        if (!_options.Lite)
        {
            if (Role == IceRole.Controlling && msg.IceControlling is ulong theirs)
            {
                if (TieBreaker >= theirs) { SendError(local, remote, msg, StunErrorCode.RoleConflict, "Role Conflict", withIntegrity: true); return; }
                SwitchRole(IceRole.Controlled);
            }
            else if (Role == IceRole.Controlled && msg.IceControlled is ulong theirs2)
            {
                if (TieBreaker >= theirs2) SwitchRole(IceRole.Controlling);
                else { SendError(local, remote, msg, StunErrorCode.RoleConflict, "Role Conflict", withIntegrity: true); return; }
            }
        }
        else if (msg.IceControlled is not null)
        {
            // Both lite cannot happen; a controlled peer talking to a lite agent is a role conflict we cannot resolve.
            SendError(local, remote, msg, StunErrorCode.RoleConflict, "Role Conflict", withIntegrity: true);
            return;
        }

        var resp = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.SuccessResponse, msg.TransactionId)
            .AddXorMappedAddress(remote).AddMessageIntegrity(_localKey).AddFingerprint().ToArray();
        _transmits.Enqueue(new IceTransmit(local, remote, resp));

        if (RemoteCredentials is null)
        {
            if (_earlyChecks.Count < 32) _earlyChecks.Add((local, remote, prio.Value, msg.UseCandidate));
            return;
        }
        LearnFromRequest(local, remote, prio.Value, msg.UseCandidate, now, replay: false);
    }

    private void LearnFromRequest(IPEndPoint local, IPEndPoint remote, uint priority, bool useCandidate, TimeSpan now, bool replay)
    {
        var lc = _local.Find(l => l.Base.Equals(local)) ?? _local.Find(l => l.Base.Port == local.Port && Normalize(l.Base.Address).AddressFamily == Normalize(local.Address).AddressFamily);
        if (lc is null) return;
        var rc = _remote.Find(r => r.EndPoint is { } ep && Same(ep, remote));
        if (rc is null)
        {
            if (_remote.Count >= _options.MaxRemoteCandidates) return;
            rc = new IceCandidate
            {
                Foundation = "prflx" + (++_prflxCounter).ToString(System.Globalization.CultureInfo.InvariantCulture),
                Priority = priority, Address = Normalize(remote.Address).ToString(), Port = remote.Port, Type = IceCandidateType.PeerReflexive,
            };
            _remote.Add(rc);
        }
        var pair = _pairs.Find(p => p.Local.Base.Equals(lc.Base) && Same(p.RemoteEndPoint, remote)) ?? TryAddPair(lc, rc);
        if (pair is null) return;
        pair.AuthenticatedRequestSeen = true;
        if (_options.Lite)
        {
            // Lite: a request proves the path works in both directions as far as we can tell (RFC 8445 §7.3.1.4 lite).
            pair.State = IceCandidatePairState.Succeeded;
            if (pair == SelectedPair) { _lastConsent = now; if (State == RTCIceConnectionState.Disconnected) SetState(RTCIceConnectionState.Connected); }
            if (useCandidate && !replay) { pair.Nominated = true; Select(pair, now); }
            return;
        }
        if (useCandidate && Role == IceRole.Controlled)
        {
            pair.UseCandidateReceived = true;
            if (pair.State == IceCandidatePairState.Succeeded) { pair.Nominated = true; Select(pair, now); return; }
            pair.NominateOnSuccess = true;
        }
        if (pair.State != IceCandidatePairState.Succeeded || pair != SelectedPair)
        {
            if (pair.State is not IceCandidatePairState.InProgress and not IceCandidatePairState.Succeeded) pair.State = IceCandidatePairState.Waiting;
            if (pair.State != IceCandidatePairState.Succeeded) Trigger(pair, now);
        }
    }

    private void SwitchRole(IceRole role)
    {
        Role = role;
        RecomputePriorities();
    }

    private void SendError(IPEndPoint local, IPEndPoint remote, StunMessage req, int code, string reason, bool withIntegrity)
    {
        var b = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.ErrorResponse, req.TransactionId).AddErrorCode(code, reason);
        if (withIntegrity) b.AddMessageIntegrity(_localKey);
        _transmits.Enqueue(new IceTransmit(local, remote, b.AddFingerprint().ToArray()));
    }

    private void HandleResponse(IPEndPoint local, IPEndPoint remote, StunMessage msg, TimeSpan now)
    {
        var key = Key(msg.TransactionId);
        if (!_transactions.TryGetValue(key, out var tx)) return;
        if (!msg.VerifyMessageIntegrity(_remoteKey)) return; // forged or stale: keep waiting (RFC 8489 §9.1.4)
        _transactions.Remove(key);
        var pair = tx.Pair;
        // Symmetric addresses (RFC 8445 §7.2.5.2.1): the response must come from where we sent, to where we sent from.
        if (!Same(remote, pair.RemoteEndPoint) || !local.Equals(pair.Local.Base))
        {
            if (!tx.Consent) pair.State = IceCandidatePairState.Failed;
            return;
        }
        if (msg.Class == StunClass.ErrorResponse)
        {
            if (msg.ErrorCode is { Code: StunErrorCode.RoleConflict } && !tx.Consent)
            {
                // RFC 8445 §7.2.5.1: switch role (if not already switched) and retry.
                if (tx.RoleAtSend == Role) SwitchRole(Role == IceRole.Controlling ? IceRole.Controlled : IceRole.Controlling);
                pair.State = IceCandidatePairState.Waiting;
                Trigger(pair, now);
            }
            else if (!tx.Consent)
            {
                pair.State = IceCandidatePairState.Failed;
            }
            return;
        }
        pair.RoundTripTime = now - tx.FirstSent;
        if (tx.Consent || pair == SelectedPair)
        {
            _lastConsent = now;
            if (State == RTCIceConnectionState.Disconnected) SetState(Role == IceRole.Controlling && SelectedPair?.Nominated == true ? RTCIceConnectionState.Completed : RTCIceConnectionState.Connected);
            if (tx.Consent) return;
        }
        bool first = pair.State != IceCandidatePairState.Succeeded;
        pair.State = IceCandidatePairState.Succeeded;
        _firstValidAt ??= now;
        if (first)
        {
            // Unfreeze pairs with the same foundation (RFC 8445 §7.2.5.3.3).
            foreach (var p in _pairs) if (p.State == IceCandidatePairState.Frozen && p.Foundation == pair.Foundation) p.State = IceCandidatePairState.Waiting;
            ArmChecks(now);
        }
        if (Role == IceRole.Controlling && tx.UseCandidate)
        {
            pair.Nominated = true;
            Select(pair, now);
            if (SelectedPair == pair) SetState(RTCIceConnectionState.Completed);
        }
        else if (Role == IceRole.Controlled && (pair.NominateOnSuccess || pair.UseCandidateReceived))
        {
            pair.Nominated = true;
            Select(pair, now);
        }
    }

    private void Select(IceCandidatePair pair, TimeSpan now)
    {
        if (SelectedPair is { } cur && cur != pair && cur.Nominated && cur.Priority > pair.Priority && !_restarting) return;
        if (_restarting && !_pairs.Contains(pair)) return; // a pair of the ICE session before the restart
        _restarting = false;
        if (SelectedPair != pair)
        {
            SelectedPair = pair;
            _lastConsent = now;
            _nextConsentAt = _options.Lite ? TimeSpan.MaxValue : now + _options.ConsentInterval;
            _events.Enqueue(new IceEvent(IceEventKind.SelectedPairChanged, Pair: pair));
        }
        if (State is RTCIceConnectionState.Checking or RTCIceConnectionState.New or RTCIceConnectionState.Disconnected) SetState(RTCIceConnectionState.Connected);
    }

    private void SetState(RTCIceConnectionState s)
    {
        if (State == s || State == RTCIceConnectionState.Closed) return;
        State = s;
        _events.Enqueue(new IceEvent(IceEventKind.StateChanged, State: s));
    }
}
