using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using OspBridge.Crypto;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sdp;
using OspBridge.Crypto.Certificates;

namespace OspBridge.WebRtc;

/// <summary>
/// A WebRTC peer connection for data channels, shaped like the W3C <c>RTCPeerConnection</c>: JSEP offer/answer,
/// trickle ICE, ICE → DTLS 1.2 → SCTP → DCEP. All protocol state lives in one serialized loop; public methods post
/// work to it. Event handlers run on that loop: they must not block (calling <see cref="RTCDataChannel.Send(string)"/>
/// from a handler is fine).
/// </summary>
public sealed class RTCPeerConnection : IAsyncDisposable
{
    private const int MaxPendingDatagrams = 8192;
    private readonly RTCConfiguration _config;
    private readonly X509Certificate2 _certificate;
    private readonly string _fingerprint;
    private readonly IceAgent _ice;
    private readonly UdpSocketSet _sockets = new();
    private readonly Channel<object> _inbox = Channel.CreateUnbounded<object>();
    private readonly long _t0 = Stopwatch.GetTimestamp();
    private readonly Task _loop;
    private readonly Dictionary<ushort, RTCDataChannel> _channels = [];
    private readonly List<RTCDataChannel> _pendingChannels = [];
    private readonly List<IAsyncDisposable> _mdnsPublications = [];
    private readonly CancellationTokenSource _cts = new();
    private readonly byte[] _packet = new byte[1500];
    private readonly byte[] _record = new byte[1500 + DtlsEndpoint.ApplicationDataOverhead];
    private readonly string _sessionId = RandomNumberGenerator.GetInt32(1, int.MaxValue).ToString(CultureInfo.InvariantCulture) + RandomNumberGenerator.GetInt32(100000000, 999999999).ToString(CultureInfo.InvariantCulture);
    private ulong _sessionVersion = 1;
    private int _pendingDatagrams;
    private int _loopThread = -1;
    private bool _gathered;
    private bool _transportsCreated;
    private bool _closed;
    private DtlsEndpoint? _dtls;
    private DataChannelEndpoint? _sctp;
    private SessionDescription? _local;
    private SessionDescription? _remote;
    private RTCSdpType? _localType;
    private string _mid = "0";
    private string? _remoteSetup;
    private bool _weAreDtlsClient;
    private int _remoteSctpPort = 5000;
    private long _remoteMaxMessageSize = 65536;
    private readonly List<IceCandidate> _localCandidates = [];

    /// <summary>Creates a peer connection; sockets are opened when the local description is set.</summary>
    public RTCPeerConnection(RTCConfiguration? configuration = null)
    {
        _config = configuration ?? new RTCConfiguration();
        _certificate = _config.Certificate ?? SelfSignedCertificate.Create("WebRTC");
        _fingerprint = CertificateFingerprint.ToSdp(_certificate);
        _ice = new IceAgent(_config.IceOptions with { Lite = _config.IceLite || _config.IceOptions.Lite });
        _ice.StateChanged += s => { Log($"ice state {s}"); OnIceConnectionStateChange?.Invoke(s); UpdateConnectionState(); };
        _ice.SelectedPairChanged += p => { Log($"selected pair {p}"); StartDtlsIfReady(); };
        _loop = Task.Run(RunLoopGuardedAsync);
    }

    /// <summary>Our certificate's fingerprint as in SDP (<c>sha-256 AB:CD:...</c>).</summary>
    public string LocalFingerprint => _fingerprint;
    /// <summary>RTCPeerConnection.connectionState.</summary>
    public RTCPeerConnectionState ConnectionState { get; private set; }
    /// <summary>RTCPeerConnection.iceConnectionState.</summary>
    public IceConnectionState IceConnectionState => _ice.State;
    /// <summary>RTCPeerConnection.iceGatheringState.</summary>
    public RTCIceGatheringState IceGatheringState { get; private set; }
    /// <summary>The selected ICE pair, or null.</summary>
    public IceCandidatePair? SelectedCandidatePair => _ice.SelectedPair;
    /// <summary>The peer's max-message-size.</summary>
    public long RemoteMaxMessageSize => _remoteMaxMessageSize;

    /// <summary>A local candidate was gathered (null: gathering complete), like <c>onicecandidate</c>.</summary>
    public event Action<RTCIceCandidateInit?>? OnIceCandidate;
    /// <summary><c>oniceconnectionstatechange</c>.</summary>
    public event Action<IceConnectionState>? OnIceConnectionStateChange;
    /// <summary><c>onconnectionstatechange</c>.</summary>
    public event Action<RTCPeerConnectionState>? OnConnectionStateChange;
    /// <summary><c>onicegatheringstatechange</c>.</summary>
    public event Action<RTCIceGatheringState>? OnIceGatheringStateChange;
    /// <summary><c>ondatachannel</c>: the peer opened a channel.</summary>
    public event Action<RTCDataChannel>? OnDataChannel;

    /// <summary>Diagnostics: SCTP congestion window, flight size, queued bytes, retransmissions (read without locking; approximate).</summary>
    internal string DebugStats => _sctp is null ? "no sctp" :
        $"cwnd {_sctp.Association.CongestionWindow} flight {_sctp.Association.FlightSize} unsent {_sctp.Association.BufferedAmount} buffered {_sctp.Association.SendBufferUsed} rtx {_sctp.Association.RetransmittedChunks} dropped {_sctp.Association.DroppedPackets} rto {_sctp.Association.Rto.TotalMilliseconds}ms rx {_sctp.Association.ReceiveBufferUsed} dtls {_dtlsState} ice {_ice.State}";

    internal TimeSpan Now => Stopwatch.GetElapsedTime(_t0);
    internal bool OnLoop => Environment.CurrentManagedThreadId == _loopThread;

    private void Log(string s) => _config.Log?.Invoke(s);

    // ------------------------------------------------------------------ JSEP

    /// <summary>The local description with every gathered candidate (what browsers expose as <c>localDescription</c>).</summary>
    public RTCSessionDescription? LocalDescription => _local is null || _localType is null ? null : new(_localType.Value, WithCandidates(_local).ToString());

    /// <summary>The remote description.</summary>
    public RTCSessionDescription? RemoteDescription { get; private set; }

    /// <summary>Creates an offer (actpass; the offerer is the controlling ICE agent).</summary>
    public Task<RTCSessionDescription> CreateOfferAsync() => InvokeAsync(_ =>
    {
        if (_closed) throw Closed();
        return new RTCSessionDescription(RTCSdpType.Offer, BuildDescription("actpass", _mid).ToString());
    });

    /// <summary>Creates an answer to the remote offer (we take <c>active</c>, the DTLS client, unless the offer said active).</summary>
    public Task<RTCSessionDescription> CreateAnswerAsync() => InvokeAsync(_ =>
    {
        if (_closed) throw Closed();
        if (RemoteDescription?.Type != RTCSdpType.Offer) throw new WebRtcException(WebRtcError.InvalidState, "CreateAnswer needs a remote offer");
        string setup = _remoteSetup == "active" ? "passive" : "active";
        return new RTCSessionDescription(RTCSdpType.Answer, BuildDescription(setup, _mid).ToString());
    });

    private SessionDescription BuildDescription(string setup, string mid)
    {
        var sd = new SessionDescription { Origin = new SdpOrigin("-", _sessionId, _sessionVersion++, "IN", "IP4", "127.0.0.1") };
        sd.Attributes.Add(new SdpAttribute("group", "BUNDLE " + mid));
        if (_ice.IsLite) sd.Attributes.Add(new SdpAttribute("ice-lite"));
        sd.Attributes.Add(new SdpAttribute("msid-semantic", " WMS"));
        var m = new SdpMediaDescription();
        m.Attributes.Add(new SdpAttribute("ice-ufrag", _ice.LocalCredentials.Ufrag));
        m.Attributes.Add(new SdpAttribute("ice-pwd", _ice.LocalCredentials.Password));
        m.Attributes.Add(new SdpAttribute("ice-options", "trickle"));
        m.Attributes.Add(new SdpAttribute("fingerprint", _fingerprint));
        m.Attributes.Add(new SdpAttribute("setup", setup));
        m.Attributes.Add(new SdpAttribute("mid", mid));
        m.Attributes.Add(new SdpAttribute("sctp-port", "5000"));
        m.Attributes.Add(new SdpAttribute("max-message-size", _config.MaxMessageSize.ToString(CultureInfo.InvariantCulture)));
        sd.Media.Add(m);
        return sd;
    }

    private SessionDescription WithCandidates(SessionDescription sd)
    {
        var copy = SessionDescription.Parse(sd.ToString());
        var m = copy.Media[0];
        int at = m.Attributes.FindIndex(a => a.Name == "ice-ufrag");
        var cands = _localCandidates.Select(c => new SdpAttribute("candidate", c.ToString()["candidate:".Length..])).ToList();
        if (IceGatheringState == RTCIceGatheringState.Complete) cands.Add(new SdpAttribute("end-of-candidates"));
        m.Attributes.InsertRange(Math.Max(0, at), cands);
        return copy;
    }

    /// <summary>Applies our offer or answer; opens sockets and gathers host candidates (trickled through <see cref="OnIceCandidate"/>).</summary>
    public Task SetLocalDescriptionAsync(RTCSessionDescription description) => InvokeAsync(now =>
    {
        ArgumentNullException.ThrowIfNull(description);
        if (_closed) throw Closed();
        var sd = SessionDescription.Parse(description.Sdp);
        var m = sd.DataChannelMedia ?? throw new WebRtcException(WebRtcError.InvalidDescription, "no data-channel m-section");
        if (description.Type == RTCSdpType.Answer && RemoteDescription?.Type != RTCSdpType.Offer)
            throw new WebRtcException(WebRtcError.InvalidState, "an answer needs a remote offer first");
        _local = sd;
        _localType = description.Type;
        _mid = m.Mid ?? _mid;
        if (description.Type == RTCSdpType.Answer)
        {
            _weAreDtlsClient = m.Setup == "active";
        }
        Gather();
        MaybeStartTransports(now);
        return 0;
    });

    /// <summary>Applies the peer's offer or answer: ICE credentials and candidates, fingerprint, DTLS role, SCTP port, max-message-size.</summary>
    public Task SetRemoteDescriptionAsync(RTCSessionDescription description) => InvokeAsync(now =>
    {
        ArgumentNullException.ThrowIfNull(description);
        if (_closed) throw Closed();
        var sd = SessionDescription.Parse(description.Sdp);
        var m = sd.DataChannelMedia ?? throw new WebRtcException(WebRtcError.InvalidDescription, "no data-channel m-section");
        string? ufrag = sd.GetEffective(m, "ice-ufrag"), pwd = sd.GetEffective(m, "ice-pwd");
        if (ufrag is null || pwd is null) throw new WebRtcException(WebRtcError.InvalidDescription, "missing ice-ufrag/ice-pwd");
        string? fp = sd.GetEffective(m, "fingerprint");
        if (!SdpFingerprint.TryParse(fp, out _)) throw new WebRtcException(WebRtcError.InvalidDescription, "missing or malformed a=fingerprint");
        if (description.Type == RTCSdpType.Answer && _localType != RTCSdpType.Offer)
            throw new WebRtcException(WebRtcError.InvalidState, "an answer needs a local offer first");
        _remote = sd;
        RemoteDescription = description;
        _remoteSetup = sd.GetEffective(m, "setup") ?? "actpass";
        _remoteSctpPort = m.SctpPort ?? 5000;
        _remoteMaxMessageSize = m.MaxMessageSize is long mms ? (mms == 0 ? long.MaxValue : mms) : 65536;
        if (description.Type == RTCSdpType.Offer)
        {
            _mid = m.Mid ?? "0";
            if (!_ice.IsLite) _ice.SetRole(sd.IceLite ? IceRole.Controlling : IceRole.Controlled);
        }
        else
        {
            if (_remoteSetup is not ("active" or "passive")) throw new WebRtcException(WebRtcError.InvalidDescription, "an answer must say setup:active or setup:passive");
            _weAreDtlsClient = _remoteSetup == "passive";
            if (!_ice.IsLite) _ice.SetRole(IceRole.Controlling);
        }
        _ice.SetRemoteCredentials(new IceCredentials(ufrag, pwd), sd.IceLite);
        foreach (var c in m.Candidates) AddRemoteCandidateOnLoop("candidate:" + c);
        if (m.EndOfCandidates) _ice.SetRemoteGatheringComplete();
        MaybeStartTransports(now);
        return 0;
    });

    /// <summary>Adds a trickled remote candidate (empty string = end of candidates). <c>.local</c> names are resolved by mDNS when configured.</summary>
    public Task AddIceCandidateAsync(RTCIceCandidateInit candidate) => InvokeAsync(_ =>
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (string.IsNullOrEmpty(candidate.Candidate)) { _ice.SetRemoteGatheringComplete(); return 0; }
        AddRemoteCandidateOnLoop(candidate.Candidate);
        return 0;
    });

    private void AddRemoteCandidateOnLoop(string text)
    {
        if (!IceCandidate.TryParse(text, out var c) || c is null) { Log($"ignoring malformed candidate {text}"); return; }
        if (!c.IsMdns) { _ice.AddRemoteCandidate(c); ArmIce(); return; }
        if (_config.MdnsHostNames is not { } mdns) { Log($"no mDNS resolver for {c.Address}; relying on peer-reflexive discovery"); return; }
        _ = ResolveAsync(mdns, c);
    }

    private async Task ResolveAsync(IMdnsHostNames mdns, IceCandidate c)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            var ip = await mdns.ResolveAsync(c.Address, cts.Token).ConfigureAwait(false);
            Log($"mDNS {c.Address} -> {ip?.ToString() ?? "(no answer)"}");
            if (ip is null) return;
            await InvokeAsync(_ => { _ice.AddRemoteCandidate(c with { Address = ip.ToString() }); ArmIce(); return 0; }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
        catch (WebRtcException) { }
    }

    private void ArmIce() { /* the loop recomputes deadlines after every work item */ }

    private void Gather()
    {
        if (_gathered) return;
        _gathered = true;
        IceGatheringState = RTCIceGatheringState.Gathering;
        OnIceGatheringStateChange?.Invoke(IceGatheringState);
        var addrs = UdpSocketSet.ResolveAddresses(_config);
        _sockets.Bind(addrs, _config.SocketFactory);
        _sockets.StartReceiving(OnDatagram);
        int i = 0;
        foreach (var ep in _sockets.LocalEndPoints)
        {
            string? name = null;
            if (_config.MdnsHostNames is { } mdns && _config.ObfuscateHostCandidates)
            {
                name = Guid.NewGuid().ToString("D") + ".local";
                _mdnsPublications.Add(mdns.Publish(name, ep.Address));
            }
            var cand = _ice.AddLocalHostCandidate(ep, name, 65535 - 256 * i++);
            _localCandidates.Add(cand);
            Log($"local candidate {cand}");
            OnIceCandidate?.Invoke(new RTCIceCandidateInit(cand.ToString(), _mid, 0));
        }
        IceGatheringState = RTCIceGatheringState.Complete;
        OnIceGatheringStateChange?.Invoke(IceGatheringState);
        OnIceCandidate?.Invoke(null);
    }

    /// <summary>Completes when ICE gathering is complete (immediately after the local description is set: host candidates only).</summary>
    public async Task WaitForGatheringCompleteAsync(CancellationToken cancellationToken = default)
    {
        while (IceGatheringState != RTCIceGatheringState.Complete)
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
    }

    private void MaybeStartTransports(TimeSpan now)
    {
        if (_transportsCreated || _local is null || _remote is null) return;
        _transportsCreated = true;
        string remoteFp = _remote.GetEffective(_remote.DataChannelMedia!, "fingerprint")!;
        _dtls = new DtlsEndpoint(new DtlsOptions
        {
            IsClient = _weAreDtlsClient,
            Certificate = _certificate,
            RemoteFingerprint = remoteFp,
            Mtu = 1200,
        });
        _sctp = new DataChannelEndpoint(new SctpOptions
        {
            IsDtlsClient = _weAreDtlsClient,
            LocalPort = 5000,
            RemotePort = (ushort)_remoteSctpPort,
            MaxMessageSize = _config.MaxMessageSize,
            RemoteMaxMessageSize = (int)Math.Min(int.MaxValue, _remoteMaxMessageSize),
            Mtu = 1160, // one DTLS record per SCTP packet: UDP payload 1197 ≤ 1200 (multiple of 4: SctpAssociation pads chunks inside the MTU)
        });
        foreach (var ch in _pendingChannels) OpenOnEndpoint(ch, now);
        _pendingChannels.Clear();
        Log($"transports created: DTLS {(_weAreDtlsClient ? "client" : "server")}, ICE {_ice.Role}{(_ice.IsLite ? " (lite)" : "")}");
        _ice.Start(now);
        ConnectionState = RTCPeerConnectionState.Connecting;
        OnConnectionStateChange?.Invoke(ConnectionState);
    }

    private void StartDtlsIfReady()
    {
        if (_dtls is { State: DtlsState.New }) _dtls.Start(Now);
    }

    // ------------------------------------------------------------------ data channels

    /// <summary>Creates a data channel (opened with DCEP, or negotiated with a fixed id).</summary>
    public RTCDataChannel CreateDataChannel(string label, RTCDataChannelInit? init = null)
    {
        ArgumentNullException.ThrowIfNull(label);
        init ??= new RTCDataChannelInit();
        if (init.MaxRetransmits is not null && init.MaxPacketLifeTime is not null)
            throw new WebRtcException(WebRtcError.InvalidArgument, "maxRetransmits and maxPacketLifeTime are exclusive");
        if (init.Negotiated && init.Id is null) throw new WebRtcException(WebRtcError.InvalidArgument, "a negotiated channel needs an id");
        var ch = new RTCDataChannel(this, label, init);
        Post(now => { if (_sctp is null) _pendingChannels.Add(ch); else OpenOnEndpoint(ch, now); });
        return ch;
    }

    private void OpenOnEndpoint(RTCDataChannel ch, TimeSpan now)
    {
        var opts = new DataChannelOptions
        {
            Ordered = ch.Ordered, MaxRetransmits = ch.MaxRetransmits,
            MaxPacketLifeTime = ch.MaxPacketLifeTime is int ms ? TimeSpan.FromMilliseconds(ms) : null,
            Protocol = ch.Protocol, Negotiated = ch.Negotiated, Id = ch.Negotiated ? ch.Id : null,
        };
        try
        {
            ushort id = _sctp!.OpenChannel(ch.Label, opts, now);
            ch.AssignId(id);
            _channels[id] = ch;
        }
        catch (WebRtcException ex)
        {
            ch.Fail(ex);
        }
    }

    internal void SendOnLoop(RTCDataChannel ch, ReadOnlyMemory<byte> data, bool isText)
    {
        if (OnLoop) { DoSend(ch, data.Span, isText, Now); return; }
        Post(now => DoSend(ch, data.Span, isText, now));
    }

    private void DoSend(RTCDataChannel ch, ReadOnlySpan<byte> data, bool isText, TimeSpan now)
    {
        if (_sctp is null || ch.Id is not ushort id) return;
        try
        {
            _sctp.Send(id, data, isText, now);
        }
        catch (WebRtcException ex)
        {
            ch.RaiseError(ex);
        }
        ch.UpdateBuffered(_sctp.GetBufferedAmount(id));
    }

    internal void CloseChannel(RTCDataChannel ch) => Post(now =>
    {
        if (_sctp is not null && ch.Id is ushort id && _channels.ContainsKey(id)) _sctp.CloseChannel(id, now);
        else ch.SetClosed();
    });

    internal void SetLowThreshold(RTCDataChannel ch, long threshold) => Post(_ =>
    {
        if (_sctp is not null && ch.Id is ushort id) _sctp.SetBufferedAmountLowThreshold(id, threshold);
    });

    internal long GetBuffered(RTCDataChannel ch) => ch.Id is ushort id && _sctp is not null ? _sctp.GetBufferedAmount(id) : 0;

    // ------------------------------------------------------------------ loop

    private sealed record Work(Action<TimeSpan> Action);
    private sealed record Datagram(IPEndPoint Local, IPEndPoint Remote, byte[] Data);

    private void OnDatagram(IPEndPoint local, IPEndPoint remote, byte[] data)
    {
        if (Interlocked.Increment(ref _pendingDatagrams) > MaxPendingDatagrams) { Interlocked.Decrement(ref _pendingDatagrams); return; }
        if (!_inbox.Writer.TryWrite(new Datagram(local, remote, data))) Interlocked.Decrement(ref _pendingDatagrams);
    }

    /// <summary>Test hook: queues work on the loop exactly as internal callers do.</summary>
    internal void PostForTest(Action<TimeSpan> action) => Post(action);

    /// <summary>
    /// Runs the loop; an exception that is not a WebRtc/Crypto error (bad input surfaces as those and is handled
    /// inside the loop) is a bug: fail the connection loudly instead of leaving callers waiting on a dead loop.
    /// </summary>
    private async Task RunLoopGuardedAsync()
    {
        try
        {
            await RunLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log($"internal error, peer connection failed: {ex}");
            _inbox.Writer.TryComplete();
            _loopThread = Environment.CurrentManagedThreadId;
            // Queued InvokeAsync work completes its own task (with a result or an exception) instead of hanging.
            while (_inbox.Reader.TryRead(out var item))
            {
                if (item is Work w)
                {
                    try { w.Action(Now); } catch (Exception) { /* the loop is already failed */ }
                }
            }
            var failure = new WebRtcException(WebRtcError.InternalError, "peer connection failed: " + ex.Message);
            foreach (var ch in _channels.Values.ToList()) ch.Fail(failure);
            _channels.Clear();
            if (ConnectionState != RTCPeerConnectionState.Failed)
            {
                ConnectionState = RTCPeerConnectionState.Failed;
                OnConnectionStateChange?.Invoke(ConnectionState);
            }
            _loopThread = -1;
        }
    }

    private void Post(Action<TimeSpan> action)
    {
        if (!_inbox.Writer.TryWrite(new Work(action))) { /* closed */ }
    }

    private Task<T> InvokeAsync<T>(Func<TimeSpan, T> func)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (OnLoop)
        {
            try { tcs.SetResult(func(Now)); } catch (Exception ex) { tcs.SetException(ex); }
            return tcs.Task;
        }
        if (!_inbox.Writer.TryWrite(new Work(now =>
            {
                try { tcs.SetResult(func(now)); } catch (Exception ex) { tcs.SetException(ex); }
            })))
            tcs.SetException(Closed());
        return tcs.Task;
    }

    private async Task RunLoopAsync()
    {
        var reader = _inbox.Reader;
        Task<bool>? wait = null;
        while (true)
        {
            _loopThread = Environment.CurrentManagedThreadId;
            var now = Now;
            int n = 0;
            while (n < 256 && reader.TryRead(out var item))
            {
                n++;
                try
                {
                    if (item is Datagram d) { Interlocked.Decrement(ref _pendingDatagrams); HandleDatagram(d, now); }
                    else if (item is Work w) w.Action(now);
                }
                catch (Exception ex) when (ex is WebRtcException or CryptoException)
                {
                    Log($"loop: {ex.Message}");
                }
                if ((n & 15) == 0) { now = Now; Pump(now); }
            }
            now = Now;
            try { Pump(now); }
            catch (Exception ex) when (ex is WebRtcException or CryptoException) { Log($"pump: {ex.Message}"); }
            if (_closed && reader.Count == 0) { _loopThread = -1; return; }
            if (n > 0) continue;
            var deadline = NextDeadline();
            var delay = deadline - Now;
            if (delay <= TimeSpan.Zero)
            {
                // A core reported a due timer that its HandleTimeout did not move: never spin, wait a millisecond.
                if (++_spins < 3) continue;
                delay = TimeSpan.FromMilliseconds(1);
            }
            _spins = 0;
            _loopThread = -1;
            wait ??= reader.WaitToReadAsync().AsTask();
            if (delay < TimeSpan.FromDays(1))
            {
                using var timer = new CancellationTokenSource(delay);
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using (timer.Token.Register(() => tcs.TrySetResult()))
                    await Task.WhenAny(wait, tcs.Task).ConfigureAwait(false);
            }
            else
            {
                await wait.ConfigureAwait(false);
            }
            if (wait.IsCompleted)
            {
                if (!wait.Result) return; // channel completed
                wait = null;
            }
        }
    }

    private int _spins;

    private TimeSpan NextDeadline()
    {
        var t = _ice.NextTimeout;
        if (_dtls is { State: DtlsState.Connecting, NextDeadline: TimeSpan d } && d < t) t = d;
        if (_sctp?.NextTimeout is TimeSpan s && s < t) t = s;
        return t;
    }

    private void HandleDatagram(Datagram d, TimeSpan now)
    {
        switch (PacketDemux.Classify(d.Data))
        {
            case PacketKind.Stun:
                _ice.ProcessDatagram(d.Local, d.Remote, d.Data, now);
                break;
            case PacketKind.Dtls:
                if (_dtls is null) return;
                if (_ice.SelectedPair is null && _dtls.State == DtlsState.New && !_dtls.IsClient)
                    Log("DTLS before ICE selection; processing");
                _dtls.Receive(d.Data, now); // failures arrive as DtlsEvent (drained in Pump)
                break;
            default:
                break; // RTP/RTCP/unknown: no media yet
        }
    }

    private void Pump(TimeSpan now)
    {
        if (now >= _ice.NextTimeout) _ice.HandleTimeout(now);
        while (_ice.TryGetTransmit(out var t)) _sockets.Send(t.Local, t.Remote, t.Data);
        if (_dtls is null || _sctp is null) return;

        if (_dtls.NextDeadline is TimeSpan dt && now >= dt) _dtls.HandleDeadline(now);
        while (_dtls.TryPollEvent(out var dev))
        {
            if (dev.Kind != DtlsEventKind.StateChanged || dev.State == _dtlsState) continue;
            _dtlsState = dev.State;
            OnDtlsStateChanged(now);
        }

        while (_dtls.TryReadApplicationData(out var app))
        {
            try { _sctp.ProcessPacket(app.Span, now); }
            catch (WebRtcException ex) { Log($"SCTP: {ex.Message}"); }
        }
        if (_sctp.NextTimeout is TimeSpan st && now >= st) _sctp.HandleTimeout(now);
        DispatchDataChannelEvents();

        var pair = _ice.SelectedPair;
        if (pair is null || _ice.State == IceConnectionState.Failed) return;
        // Handshake records first: our final DTLS flight (CCS + Finished) must reach the peer before the first
        // epoch-1 SCTP packet, or a peer still waiting for Finished drops that INIT and the association waits a
        // full T1-init timeout.
        while (_dtls.TryPollTransmit(_record, now, out var hs)) _sockets.Send(pair.Local.Base, pair.RemoteEndPoint, _record.AsSpan(0, hs.Length));
        if (_dtls.State == DtlsState.Connected)
        {
            bool sent = false;
            while (_sctp.TryGetPacket(now, _packet, out int len))
            {
                int rl = _dtls.SealApplicationData(_packet.AsSpan(0, len), _record);
                _sockets.Send(pair.Local.Base, pair.RemoteEndPoint, _record.AsSpan(0, rl));
                sent = true;
            }
            if (sent)
                foreach (var (id, ch) in _channels)
                    if (ch.BufferedAmount > 0) ch.UpdateBuffered(_sctp.GetBufferedAmount(id));
            DispatchDataChannelEvents();
        }
        while (_dtls.TryPollTransmit(_record, now, out var dg)) _sockets.Send(pair.Local.Base, pair.RemoteEndPoint, _record.AsSpan(0, dg.Length));
    }

    private DtlsState _dtlsState;

    private void OnDtlsStateChanged(TimeSpan now)
    {
        Log($"dtls state {_dtlsState}");
        switch (_dtlsState)
        {
            case DtlsState.Connected:
                _sctp!.Connect(now); // both sides send INIT (RFC 8841 allows it; werift as DTLS client waits for ours)
                break;
            case DtlsState.Failed:
                Log($"DTLS failed: {_dtls!.Error?.Message}");
                break;
            case DtlsState.Closed:
                break;
        }
        UpdateConnectionState();
        if (_dtlsState is DtlsState.Closed or DtlsState.Failed) ShutdownFromPeer();
    }

    private void DispatchDataChannelEvents()
    {
        while (_sctp!.TryGetEvent(out var e))
        {
            switch (e.Kind)
            {
                case DataChannelEventKind.Connected:
                    Log("sctp connected");
                    UpdateConnectionState();
                    break;
                case DataChannelEventKind.ChannelOpened:
                    if (_channels.TryGetValue(e.ChannelId, out var mine) && !e.IsRemote) { mine.SetOpen(_remoteMaxMessageSize); break; }
                    var opts = e.Options ?? new DataChannelOptions();
                    var ch = new RTCDataChannel(this, e.Label ?? "", new RTCDataChannelInit
                    {
                        Ordered = opts.Ordered, MaxRetransmits = opts.MaxRetransmits,
                        MaxPacketLifeTime = opts.MaxPacketLifeTime is TimeSpan l ? (int)l.TotalMilliseconds : null,
                        Protocol = opts.Protocol, Negotiated = opts.Negotiated, Id = e.ChannelId,
                    });
                    ch.AssignId(e.ChannelId);
                    _channels[e.ChannelId] = ch;
                    ch.SetOpen(_remoteMaxMessageSize);
                    OnDataChannel?.Invoke(ch);
                    break;
                case DataChannelEventKind.MessageReceived:
                    if (_channels.TryGetValue(e.ChannelId, out var rc)) rc.Deliver(e.Payload ?? [], e.IsText);
                    break;
                case DataChannelEventKind.BufferedAmountLow:
                    if (_channels.TryGetValue(e.ChannelId, out var bc)) { bc.UpdateBuffered(_sctp.GetBufferedAmount(e.ChannelId)); bc.RaiseBufferedAmountLow(); }
                    break;
                case DataChannelEventKind.ChannelError:
                    if (_channels.TryGetValue(e.ChannelId, out var ec)) ec.RaiseError(new WebRtcException(e.Error, e.Reason ?? "channel error"));
                    break;
                case DataChannelEventKind.ChannelClosed:
                    if (_channels.Remove(e.ChannelId, out var cc)) cc.SetClosed();
                    break;
                case DataChannelEventKind.Disconnected:
                    Log($"sctp disconnected: {e.Error} {e.Reason}");
                    ShutdownFromPeer();
                    break;
            }
        }
    }

    private void ShutdownFromPeer()
    {
        foreach (var ch in _channels.Values.ToList()) ch.SetClosed();
        _channels.Clear();
        if (ConnectionState is not (RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed))
        {
            ConnectionState = _dtlsState == DtlsState.Failed ? RTCPeerConnectionState.Failed : RTCPeerConnectionState.Closed;
            OnConnectionStateChange?.Invoke(ConnectionState);
        }
    }

    private void UpdateConnectionState()
    {
        if (ConnectionState is RTCPeerConnectionState.Closed) return;
        var s = _ice.State switch
        {
            IceConnectionState.Failed => RTCPeerConnectionState.Failed,
            IceConnectionState.Disconnected => RTCPeerConnectionState.Disconnected,
            IceConnectionState.Closed => RTCPeerConnectionState.Closed,
            IceConnectionState.Connected or IceConnectionState.Completed => _dtlsState switch
            {
                DtlsState.Connected => RTCPeerConnectionState.Connected,
                DtlsState.Failed => RTCPeerConnectionState.Failed,
                DtlsState.Closed => RTCPeerConnectionState.Closed,
                _ => RTCPeerConnectionState.Connecting,
            },
            _ => ConnectionState == RTCPeerConnectionState.New ? RTCPeerConnectionState.New : RTCPeerConnectionState.Connecting,
        };
        if (s == ConnectionState) return;
        ConnectionState = s;
        Log($"connection state {s}");
        OnConnectionStateChange?.Invoke(s);
        if (s == RTCPeerConnectionState.Failed) ShutdownFromPeer();
    }

    /// <summary>Closes everything: SCTP ABORT, DTLS close_notify, sockets.</summary>
    public async Task CloseAsync()
    {
        if (_closed) return;
        try
        {
            await InvokeAsync(now =>
            {
                if (_closed) return 0;
                if (_sctp is not null && _dtls?.State == DtlsState.Connected && _ice.SelectedPair is { } pair)
                {
                    _sctp.Abort();
                    while (_sctp.TryGetPacket(now, _packet, out int len))
                    {
                        int rl = _dtls.SealApplicationData(_packet.AsSpan(0, len), _record);
                        _sockets.Send(pair.Local.Base, pair.RemoteEndPoint, _record.AsSpan(0, rl));
                    }
                    _dtls.Close();
                    while (_dtls.TryPollTransmit(_record, now, out var dg)) _sockets.Send(pair.Local.Base, pair.RemoteEndPoint, _record.AsSpan(0, dg.Length));
                }
                foreach (var ch in _channels.Values.ToList()) ch.SetClosed();
                foreach (var ch in _pendingChannels) ch.SetClosed();
                _channels.Clear();
                _ice.Close();
                _closed = true;
                if (ConnectionState != RTCPeerConnectionState.Closed)
                {
                    ConnectionState = RTCPeerConnectionState.Closed;
                    OnConnectionStateChange?.Invoke(ConnectionState);
                }
                return 0;
            }).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (WebRtcException) { }
        catch (TimeoutException) { Log("close: loop did not answer in 5 s"); _closed = true; }
        _inbox.Writer.TryComplete();
        await _cts.CancelAsync().ConfigureAwait(false);
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (OperationCanceledException) { } catch (TimeoutException) { }
        _sockets.Dispose();
        foreach (var p in _mdnsPublications) await p.DisposeAsync().ConfigureAwait(false);
        _dtls?.Dispose();
    }

    /// <summary>Same as <see cref="CloseAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        _cts.Dispose();
    }

    private static WebRtcException Closed() => new(WebRtcError.Closed, "the peer connection is closed");
}
