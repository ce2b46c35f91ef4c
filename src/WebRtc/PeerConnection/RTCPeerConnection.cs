using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc;

/// <summary>
/// A WebRTC peer connection for data channels, shaped like the W3C <c>RTCPeerConnection</c>: JSEP offer/answer,
/// trickle ICE, ICE → DTLS 1.2 → SCTP → DCEP. The protocol state is one sans-IO <see cref="PeerConnectionCore"/>
/// driven by one <see cref="CoreLoop{TEvent}"/> (the project's single I/O driver model); UDP sockets come from
/// <see cref="RTCPeerConnectionOptions.SocketFactory"/>.
/// </summary>
/// <remarks>
/// Events follow the W3C names, one style: <c>event Action&lt;T&gt;</c> named <c>On…</c>
/// (<see cref="OnIceCandidate"/>, <see cref="OnIceConnectionStateChange"/>, <see cref="OnIceGatheringStateChange"/>,
/// <see cref="OnConnectionStateChange"/>, <see cref="OnSignalingStateChange"/>, <see cref="OnDataChannel"/>). They run
/// off the connection's loop, one at a time per connection and in the order they happened (the channels' events too), on
/// a thread-pool thread: a handler may block without stalling this or any other connection's protocol work (it only
/// delays this connection's later handlers; a blocked <see cref="RTCDataChannel.OnMessage"/> handler holds the peer's
/// sender at the SCTP receive window). Calling <see cref="RTCDataChannel.Send(string)"/> from a handler is fine. An
/// awaited call (<see cref="SetRemoteDescriptionAsync"/>, …) returns after the handlers of the events it caused have
/// run. A handler that throws is a bug in the application: the connection fails loudly (state
/// <see cref="RTCPeerConnectionState.Failed"/>) instead of hanging.
/// </remarks>
public sealed partial class RTCPeerConnection : IAsyncDisposable
{
    [ThreadStatic] private static RTCPeerConnection? _onLoopThread;

    private readonly RTCConfiguration _config;
    private readonly RTCPeerConnectionOptions _options;
    private readonly ILogger _log;
    private readonly PeerConnectionCore _core;
    private readonly PeerSockets _sockets;
    private readonly CoreLoop<PeerConnectionEvent> _loop;
    private readonly EventDispatcher _events;
    private readonly bool _inline;
    private readonly Dictionary<ushort, RTCDataChannel> _channels = [];   // loop only
    private readonly List<RTCDataChannel> _pendingChannels = [];          // loop only
    private readonly List<IAsyncDisposable> _mdnsPublications = [];
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _gathered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closedTcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RTCSessionDescription? _localDescription;
    private RTCSessionDescription? _remoteDescription;
    private volatile IceCandidatePair? _selectedPair;
    private volatile bool _failed;
    private bool _gatheringStarted;
    private int _closing;
    private long _postedSendBytes; // room reserved by off-loop Send calls whose messages the loop has not handed to SCTP yet
    private long _sctpSendUsed;    // the SCTP send-buffer use as the loop last saw it (written on the loop only)

    /// <summary>Creates a peer connection; sockets are opened when the local description is set.</summary>
    public RTCPeerConnection(RTCConfiguration? configuration = null, RTCPeerConnectionOptions? options = null)
    {
        _config = configuration ?? new RTCConfiguration();
        _options = options ?? new RTCPeerConnectionOptions();
        _log = _options.Logger;
        _core = new PeerConnectionCore(new PeerConnectionCoreOptions
        {
            Certificate = _config.Certificates is { Count: > 0 } certs ? certs[0] : null,
            IceLite = _config.IceLite,
            MaxMessageSize = _config.MaxMessageSize,
            Ice = _options.Ice,
            Random = _options.Random,
            SendRemb = _options.SendRemb,
        });
        LocalFingerprint = _core.LocalFingerprint;
        _core.SendIdle = _staging.TrimSpares; // a timer pass with nothing buffered: the staging keeps no spare arrays
        _events = new EventDispatcher(OnHandlerFailed);
        // Issue 14: no application code runs on the loop (handlers go through _events), so its pass may run where the
        // input arrives — on the epoll thread for datagrams and timers, on the caller for API calls — as QUIC's does.
        _inline = !InlineOff;
        _sockets = new PeerSockets(_options.SocketFactory, _log, _options.SocketBufferSize, _inline);
        _loop = new CoreLoop<PeerConnectionEvent>(_core, _sockets, OnCoreEvent, new CoreLoopOptions
        {
            TimeProvider = _options.TimeProvider,
            Logger = _log,
            Name = "webrtc",
            InboxCapacity = 8192,
            MaxDatagramSize = 2048,
            RunPassOnCaller = _inline,
            TimersOnIoThread = _inline,
        });
        _ = _loop.Completion.ContinueWith(t => OnLoopStopped(t), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _loop.Start();
    }

    /// <summary>
    /// <c>OSPBRIDGE_WEBRTC_INLINE=0</c> (A/B): the loop's pass runs on a thread-pool worker woken for it, as before issue 14's
    /// session 12 — no pass on the caller, receive continuations and timers not on the epoll thread.
    /// </summary>
    private static readonly bool InlineOff = Environment.GetEnvironmentVariable("OSPBRIDGE_WEBRTC_INLINE") == "0";

    /// <summary>The dispatcher that runs this connection's application event handlers (channels raise theirs through it).</summary>
    internal EventDispatcher Events => _events;

    /// <summary>Queues <paramref name="handler"/>(<paramref name="arg"/>) on the dispatcher; nothing when nobody subscribed.</summary>
    internal void Raise<T>(Action<T>? handler, T arg)
    {
        if (handler is not null) _events.Post(() => handler(arg));
    }

    /// <summary>Queues <paramref name="handler"/> on the dispatcher; nothing when nobody subscribed.</summary>
    internal void Raise(Action? handler)
    {
        if (handler is not null) _events.Post(handler);
    }

    /// <summary>On the dispatcher: an application handler threw — a bug in the application; the connection fails loudly.</summary>
    private void OnHandlerFailed(Exception ex)
    {
        WebRtcLog.LoopFailed(_log, ex);
        _loop.Post(_ => throw new WebRtcException(WebRtcError.InternalError, "an event handler threw: " + ex.Message, ex));
    }

    /// <summary>Our certificate's fingerprint as in SDP (<c>sha-256 AB:CD:...</c>).</summary>
    public string LocalFingerprint { get; }
    /// <summary>W3C <c>connectionState</c>.</summary>
    public RTCPeerConnectionState ConnectionState { get; private set; }
    /// <summary>W3C <c>iceConnectionState</c>.</summary>
    public RTCIceConnectionState IceConnectionState { get; private set; }
    /// <summary>W3C <c>iceGatheringState</c>.</summary>
    public RTCIceGatheringState IceGatheringState { get; private set; }
    /// <summary>W3C <c>signalingState</c>.</summary>
    public RTCSignalingState SignalingState { get; private set; }
    /// <summary>The selected ICE pair, or null (W3C <c>getSelectedCandidatePair()</c>).</summary>
    public IceCandidatePair? SelectedCandidatePair => _selectedPair;
    /// <summary>The peer's max-message-size.</summary>
    public long RemoteMaxMessageSize { get; private set; } = 65536;
    /// <summary>W3C <c>localDescription</c>: our description with every gathered candidate (and end-of-candidates once complete).</summary>
    public RTCSessionDescription? LocalDescription => Volatile.Read(ref _localDescription);
    /// <summary>W3C <c>remoteDescription</c>.</summary>
    public RTCSessionDescription? RemoteDescription => Volatile.Read(ref _remoteDescription);

    /// <summary><c>onicecandidate</c>: a local candidate was gathered; null once gathering is complete.</summary>
    public event Action<RTCIceCandidateInit?>? OnIceCandidate;
    /// <summary><c>oniceconnectionstatechange</c>.</summary>
    public event Action<RTCIceConnectionState>? OnIceConnectionStateChange;
    /// <summary><c>onconnectionstatechange</c>.</summary>
    public event Action<RTCPeerConnectionState>? OnConnectionStateChange;
    /// <summary><c>onicegatheringstatechange</c>.</summary>
    public event Action<RTCIceGatheringState>? OnIceGatheringStateChange;
    /// <summary><c>onsignalingstatechange</c>.</summary>
    public event Action<RTCSignalingState>? OnSignalingStateChange;
    /// <summary><c>ondatachannel</c>: the peer opened a channel.</summary>
    public event Action<RTCDataChannel>? OnDataChannel;

    /// <summary>Diagnostics: SCTP congestion window, flight size, queued bytes, retransmissions (read without the loop; approximate).</summary>
    internal string DebugStats => _core.DebugStats;

    /// <summary>Tests only: this connection's SACK policy (<see cref="PeerConnectionCore.SackMode"/>); set before data flows.</summary>
    internal int SackMode { set => _core.SackMode = value; }

    /// <summary>Diagnostics: the loop's counters (datagrams sent: <see cref="CoreLoopCounters.Transmits"/>; allocation benches divide by them).</summary>
    internal CoreLoopCounters LoopCounters => _loop.Counters;

    /// <summary>Diagnostics: datagrams the loop's inbox refused (full or closed) — received from the socket, never processed.</summary>
    internal long LoopDroppedDatagrams => _loop.DroppedDatagrams;

    /// <summary>
    /// Diagnostics (any thread): data-channel messages SCTP assembled so far and their bytes — each one a new array, made
    /// on the loop before it waits (back-pressure) or goes to the dispatcher; allocation benches and tests subtract them.
    /// </summary>
    internal (long Messages, long Bytes) AssembledMessages => _core.DataChannels?.Association.Assembled ?? default;

    /// <summary>Diagnostics: chunks holding off-loop sends not handed to SCTP yet (0 once the loop drained them; tests).</summary>
    internal int StagedSendChunks => _staging.ChunksOut;

    /// <summary>Tests: spare 64 KiB arrays the off-loop send staging keeps while the connection sends (none once it idles).</summary>
    internal int StagedSpareArrays => _staging.SpareArrays;

    internal bool OnLoop => _onLoopThread == this;

    // ------------------------------------------------------------------ JSEP

    /// <summary>Creates an offer (actpass; the offerer is the controlling ICE agent).</summary>
    public Task<RTCSessionDescription> CreateOfferAsync(CancellationToken cancellationToken = default) =>
        InvokeAsync(_ => { var o = _core.CreateOffer(); SyncTransceivers(); return o; }, cancellationToken);

    /// <summary>Creates an answer to the remote offer (we take <c>active</c>, the DTLS client, unless the offer said active).</summary>
    public Task<RTCSessionDescription> CreateAnswerAsync(CancellationToken cancellationToken = default) =>
        InvokeAsync(_ => { var a = _core.CreateAnswer(); SyncTransceivers(); return a; }, cancellationToken);

    /// <summary>
    /// Applies our offer or answer, then opens one UDP socket per local address and gathers host candidates
    /// (trickled through <see cref="OnIceCandidate"/>; await <see cref="WaitForGatheringCompleteAsync"/> for all).
    /// </summary>
    public Task SetLocalDescriptionAsync(RTCSessionDescription description, CancellationToken cancellationToken = default) =>
        InvokeAsync(now =>
        {
            ArgumentNullException.ThrowIfNull(description);
            _core.SetLocalDescription(description, now);
            SyncTransceivers();
            if (!_gatheringStarted) Gather();
            FlushPendingChannels(now);
            Volatile.Write(ref _localDescription, _core.LocalDescription);
            return true;
        }, cancellationToken);

    /// <summary>Applies the peer's offer or answer: ICE credentials and candidates, fingerprint, DTLS role, SCTP port, max-message-size.</summary>
    public Task SetRemoteDescriptionAsync(RTCSessionDescription description, CancellationToken cancellationToken = default) =>
        InvokeAsync(now =>
        {
            ArgumentNullException.ThrowIfNull(description);
            var unresolved = _core.SetRemoteDescription(description, now);
            SyncTransceivers();
            Volatile.Write(ref _remoteDescription, description);
            RemoteMaxMessageSize = _core.RemoteMaxMessageSize;
            foreach (var c in unresolved) Resolve(c);
            FlushPendingChannels(now);
            return true;
        }, cancellationToken);

    /// <summary>Adds a trickled remote candidate (empty string = end of candidates). <c>.local</c> names are resolved by mDNS when configured.</summary>
    public Task AddIceCandidateAsync(RTCIceCandidateInit candidate, CancellationToken cancellationToken = default) =>
        InvokeAsync(_ =>
        {
            ArgumentNullException.ThrowIfNull(candidate);
            if (!_core.TryAddIceCandidate(candidate.Candidate, out var unresolved))
                WebRtcLog.MalformedCandidate(_log, candidate.Candidate);
            else if (unresolved is not null)
                Resolve(unresolved);
            return true;
        }, cancellationToken);

    /// <summary>
    /// Restarts ICE with the remote peer's new credentials without renegotiating media or DTLS (a WHEP/WHIP PATCH that
    /// carries a new <c>ice-ufrag</c>/<c>ice-pwd</c>, RFC 9725 §4.3.2): the peer connection takes new local credentials and
    /// returns them with its candidates as a trickle SDP fragment (RFC 8840) for the peer; media continues on the
    /// selected pair until the new ICE session selects one. The peer's new candidates follow with <see cref="AddIceCandidateAsync"/>.
    /// </summary>
    /// <exception cref="WebRtcException">Before both descriptions are set, after close, or with malformed credentials.</exception>
    public Task<string> RestartIceAsync(string remoteUfrag, string remotePassword, CancellationToken cancellationToken = default) =>
        InvokeAsync(now => RestartIce(remoteUfrag, remotePassword, now, null), cancellationToken);

    /// <summary>
    /// The offerer's side of <see cref="RestartIceAsync(string, string, CancellationToken)"/>: it sent
    /// <paramref name="localUfrag"/>/<paramref name="localPassword"/> (e.g. in a WHEP PATCH) and got the answerer's new
    /// credentials back; the answerer's candidates follow with <see cref="AddIceCandidateAsync"/>.
    /// </summary>
    /// <exception cref="WebRtcException">As <see cref="RestartIceAsync(string, string, CancellationToken)"/>.</exception>
    public Task RestartIceAsync(string remoteUfrag, string remotePassword, string localUfrag, string localPassword, CancellationToken cancellationToken = default) =>
        InvokeAsync(now => RestartIce(remoteUfrag, remotePassword, now, new IceCredentials(localUfrag, localPassword)), cancellationToken);

    private string RestartIce(string remoteUfrag, string remotePassword, TimeSpan now, IceCredentials? local)
    {
        string fragment = _core.RestartIce(remoteUfrag, remotePassword, now, local);
        Volatile.Write(ref _localDescription, _core.LocalDescription ?? _localDescription); // new credentials
        return fragment;
    }

    /// <summary>Completes when ICE gathering is complete (host candidates only: right after the local description is applied).</summary>
    public Task WaitForGatheringCompleteAsync(CancellationToken cancellationToken = default) => _gathered.Task.WaitAsync(cancellationToken);

    private void Resolve(IceCandidate c)
    {
        if (_config.MdnsHostNames is not { } mdns)
        {
            WebRtcLog.NoMdnsResolver(_log, c.Address);
            return;
        }
        _ = ResolveAsync(mdns, c);
    }

    private async Task ResolveAsync(IMdnsHostNames mdns, IceCandidate c)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            var ip = await mdns.ResolveAsync(c.Address, cts.Token).ConfigureAwait(false);
            WebRtcLog.MdnsResolved(_log, c.Address, ip);
            if (ip is null) return;
            await InvokeAsync(_ => _core.AddRemoteCandidate(c with { Address = ip.ToString() }), _cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        catch (WebRtcException) { }
    }

    private void Gather()
    {
        _gatheringStarted = true;
        IceGatheringState = RTCIceGatheringState.Gathering;
        Raise(OnIceGatheringStateChange, IceGatheringState);
        int i = 0;
        foreach (var address in PeerSockets.ResolveAddresses(_config))
        {
            var ep = _sockets.Open(address, _loop);
            if (ep is null) continue;
            string? name = null;
            if (_config.MdnsHostNames is { } mdns && _config.ObfuscateHostCandidates)
            {
                name = Guid.NewGuid().ToString("D") + ".local";
                _mdnsPublications.Add(mdns.Publish(name, ep.Address));
            }
            _core.AddLocalCandidate(ep, name, 65535 - 256 * i++);
        }
        _core.CompleteGathering();
        DrainEvents();
    }

    // ------------------------------------------------------------------ data channels

    /// <summary>Creates a data channel (opened with DCEP, or negotiated with a fixed id); it opens once the connection is up.</summary>
    public RTCDataChannel CreateDataChannel(string label, RTCDataChannelInit? init = null)
    {
        ArgumentNullException.ThrowIfNull(label);
        init ??= new RTCDataChannelInit();
        if (init.MaxRetransmits is not null && init.MaxPacketLifeTime is not null)
            throw new WebRtcException(WebRtcError.InvalidArgument, "maxRetransmits and maxPacketLifeTime are exclusive");
        if (init.Negotiated && init.Id is null) throw new WebRtcException(WebRtcError.InvalidArgument, "a negotiated channel needs an id");
        if (_failed || Volatile.Read(ref _closing) != 0) throw Closed();
        var ch = new RTCDataChannel(this, label, init);
        RunOnLoop(now => { if (_core.TransportsCreated) OpenOnCore(ch, now); else _pendingChannels.Add(ch); });
        return ch;
    }

    private void FlushPendingChannels(TimeSpan now)
    {
        if (!_core.TransportsCreated || _pendingChannels.Count == 0) return;
        foreach (var ch in _pendingChannels) OpenOnCore(ch, now);
        _pendingChannels.Clear();
    }

    private void OpenOnCore(RTCDataChannel ch, TimeSpan now)
    {
        var opts = new DataChannelOptions
        {
            Ordered = ch.Ordered, MaxRetransmits = ch.MaxRetransmits,
            MaxPacketLifeTime = ch.MaxPacketLifeTime is int ms ? TimeSpan.FromMilliseconds(ms) : null,
            Protocol = ch.Protocol, Negotiated = ch.Negotiated, Id = ch.Negotiated ? ch.Id : null,
        };
        try
        {
            ushort id = _core.OpenChannel(ch.Label, opts, now);
            ch.AssignId(id);
            _channels[id] = ch;
        }
        catch (WebRtcException ex)
        {
            ch.Fail(ex);
        }
    }

    internal void SendFromChannel(RTCDataChannel ch, ReadOnlyMemory<byte> data, bool isText)
    {
        if (OnLoop)
        {
            // W3C send(): a message that does not fit the send buffer throws here (OperationError); it is never dropped later.
            long len = Math.Max(1, data.Length);
            if (_core.DataChannelSendBufferUsed + Interlocked.Read(ref _postedSendBytes) + len > PeerConnectionCore.DataChannelSendBuffer)
                throw SendBufferFull(ch, data.Length);
            DoSend(ch, data.Span, isText, _loop.Clock.Now, posted: 0, reserved: 0);
            return;
        }
        // Off the loop: reserve the room now against what the loop last saw in use, so that the posted message is
        // certain to fit when the loop hands it to SCTP (the loop refreshes that figure before it releases a reservation,
        // so the sum never under-counts).
        long reserved = Math.Max(1, data.Length);
        if (Volatile.Read(ref _sctpSendUsed) + Interlocked.Add(ref _postedSendBytes, reserved) > PeerConnectionCore.DataChannelSendBuffer)
        {
            Interlocked.Add(ref _postedSendBytes, -reserved);
            throw SendBufferFull(ch, data.Length);
        }
        // The caller may reuse its buffer once Send returns: the message is copied — into a pooled chunk shared with the
        // messages around it, which the loop gives back once SCTP took its own copy (issue 14: no allocation per message;
        // before, a new array each).
        var chunk = _staging.Stage(data.Span, out int offset);
        ch.AddPosted(data.Length);
        // One queue of off-loop sends and at most one drain queued on the loop at a time: a burst of sends costs one
        // loop wake-up (or one pass on the caller), and nothing per message (issue 14: the drain is a cached delegate
        // in the loop's struct inbox — no task, no closure).
        _pendingSends.Enqueue(new PendingSend(ch, chunk, offset, data.Length, isText, reserved));
        if (Interlocked.Exchange(ref _sendDrainQueued, 1) == 0 && !PostOrRun(_drainSends ??= DrainSends, inline: _inline && !SendInlineOff))
        {
            while (_pendingSends.TryDequeue(out var p))
            {
                p.Channel.AddPosted(-p.Length);
                Interlocked.Add(ref _postedSendBytes, -p.Reserved);
                _staging.Release(p.Chunk);
            }
            throw Closed();
        }
    }

    private readonly record struct PendingSend(RTCDataChannel Channel, SendStaging.Chunk? Chunk, int Offset, int Length, bool IsText, long Reserved)
    {
        public ReadOnlySpan<byte> Data => Chunk is { } c ? c.Data.AsSpan(Offset, Length) : default;
    }

    private readonly SendStaging _staging = new();

    private readonly System.Collections.Concurrent.ConcurrentQueue<PendingSend> _pendingSends = new();
    private int _sendDrainQueued;
    private Action<TimeSpan>? _drainSends;
    private Action<object?, TimeSpan>? _runQueued;

    /// <summary><c>OSPBRIDGE_WEBRTC_SEND_INLINE=0</c> (A/B): off-loop sends wake the loop on the pool instead of running its pass on the sender.</summary>
    private static readonly bool SendInlineOff = Environment.GetEnvironmentVariable("OSPBRIDGE_WEBRTC_SEND_INLINE") == "0";

    /// <summary>On the loop: hands every queued off-loop send to SCTP, in the order they were made.</summary>
    private void DrainSends(TimeSpan now)
    {
        Volatile.Write(ref _sendDrainQueued, 0); // a send queued from now on queues the next drain
        while (_pendingSends.TryDequeue(out var p))
        {
            try { DoSend(p.Channel, p.Data, p.IsText, now, p.Length, p.Reserved); }
            finally { _staging.Release(p.Chunk); }
        }
    }

    /// <summary>
    /// Queues work for the loop from off the loop (a send, a window release) without allocating: a struct entry in the
    /// loop's inbox (<see cref="CoreLoop{TEvent}.TryQueue(Action{TimeSpan})"/>) and one wake. With the pass on the caller
    /// (issue 14) an idle loop runs it right here — for a send: SCTP packs and DTLS encrypts the message and the datagrams
    /// leave on the sender's own thread — instead of waking a pool worker; a busy loop finds it queued. An exception from
    /// the action fails the loop (the connection fails loudly). False: the loop has stopped.
    /// </summary>
    private bool PostOrRun(Action<TimeSpan> action, bool inline)
    {
        if (!_loop.TryQueue(action)) return false;
        _loop.Wake(inline);
        return true;
    }

    /// <inheritdoc cref="PostOrRun(Action{TimeSpan}, bool)"/>
    private bool PostOrRun(Action<object?, TimeSpan> action, object? state)
    {
        if (!_loop.TryQueue(action, state)) return false;
        _loop.Wake(_inline);
        return true;
    }

    private static WebRtcException SendBufferFull(RTCDataChannel ch, int length) => new(WebRtcError.SendBufferFull,
        $"channel '{ch.Label}': the send buffer ({PeerConnectionCore.DataChannelSendBuffer >> 20} MiB, all channels) has no room for {length} more bytes; wait for bufferedamountlow");

    /// <summary>
    /// Hands one message to SCTP on the loop; <paramref name="reserved"/> &gt; 0 for a message posted by an off-loop Send
    /// (<paramref name="posted"/> bytes counted in the channel's bufferedAmount, <paramref name="reserved"/> bytes of room).
    /// </summary>
    private void DoSend(RTCDataChannel ch, ReadOnlySpan<byte> data, bool isText, TimeSpan now, long posted, long reserved)
    {
        try
        {
            if (ch.Id is not ushort id || !_core.TransportsCreated) { ch.UpdateBuffered(0, posted); return; }
            try
            {
                _core.Send(id, data, isText, now);
            }
            catch (WebRtcException ex) when (reserved > 0)
            {
                // The caller has returned already: report it, and never carry on past a lost message (the channel may
                // be reliable) — a full buffer (not expected: the room was reserved) closes the channel.
                ch.RaiseError(ex);
                if (ex.Error == WebRtcError.SendBufferFull) CloseChannel(ch);
            }
            ch.UpdateBuffered(_core.GetBufferedAmount(id), posted);
        }
        finally
        {
            RefreshSendBufferUsed();
            if (reserved > 0) Interlocked.Add(ref _postedSendBytes, -reserved);
        }
    }

    /// <summary>Publishes the SCTP send-buffer use for off-loop Send calls (on the loop; before reservations are released).</summary>
    private void RefreshSendBufferUsed() => Volatile.Write(ref _sctpSendUsed, _core.DataChannelSendBufferUsed);

    internal void CloseChannel(RTCDataChannel ch) => RunOnLoop(now =>
    {
        if (!(ch.Id is ushort id && _channels.ContainsKey(id) && _core.CloseChannel(id, now))) ch.SetClosed();
    });

    internal void SetLowThreshold(RTCDataChannel ch, long threshold) => RunOnLoop(_ =>
    {
        if (ch.Id is ushort id) _core.SetBufferedAmountLowThreshold(id, threshold);
    });

    internal void PostToLoop(Action<TimeSpan> action) => RunOnLoop(action);

    /// <summary>On the loop: a channel queued a delivered message (<paramref name="bytes"/> charged against the SCTP window).</summary>
    internal void HoldReceived(long bytes) => _core.HoldDataChannelReceive(bytes);

    /// <summary>On the loop: a channel's queued messages were consumed; reopens the SCTP window by <paramref name="bytes"/>.</summary>
    internal void ReleaseReceived(long bytes)
    {
        if (!_failed) _core.ReleaseDataChannelReceive(bytes);
    }

    // ------------------------------------------------------------------ loop

    /// <summary>Test hook: queues work on the loop exactly as internal callers do (it runs as on the loop: <see cref="OnLoop"/>).</summary>
    internal void PostForTest(Action<TimeSpan> action) => _loop.Post(now =>
    {
        var prev = _onLoopThread;
        _onLoopThread = this;
        try { action(now); }
        finally { _onLoopThread = prev; }
    });

    private void RunOnLoop(Action<TimeSpan> action)
    {
        if (OnLoop) { action(_loop.Clock.Now); return; }
        PostOrRun(_runQueued ??= RunQueued, action);
    }

    /// <summary>On the loop: runs an action queued by <see cref="RunOnLoop"/> (its state) as on the loop, then hands out the events it caused.</summary>
    private void RunQueued(object? state, TimeSpan now)
    {
        var prev = _onLoopThread;
        _onLoopThread = this;
        try { ((Action<TimeSpan>)state!)(now); DrainEvents(); }
        finally { _onLoopThread = prev; }
    }

    private async Task<T> InvokeAsync<T>(Func<TimeSpan, T> func, CancellationToken cancellationToken)
    {
        if (_failed) throw Closed();
        if (OnLoop)
        {
            var r = func(_loop.Clock.Now);
            DrainEvents();
            return r;
        }
        // Called from one of our own handlers: do not wait for the handlers queued behind it (they run after it returns).
        bool fromHandler = _events.IsRunningHere;
        try
        {
            var (result, handlersRun) = await _loop.InvokeAsync(now =>
            {
                if (_failed) throw Closed();
                var prev = _onLoopThread;
                _onLoopThread = this;
                try
                {
                    var r = func(now);
                    DrainEvents();
                    return (r, fromHandler ? null : _events.Barrier());
                }
                finally { _onLoopThread = prev; }
            }, cancellationToken).ConfigureAwait(false);
            // The caller sees the handlers of the events its call caused as having run (e.g. OnIceCandidate after SetLocalDescriptionAsync).
            if (handlersRun is not null) await handlersRun.WaitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
        catch (ObjectDisposedException)
        {
            throw Closed();
        }
        catch (Exception ex) when (_loop.Completion.IsFaulted && ex is not (WebRtcException or OperationCanceledException))
        {
            throw new WebRtcException(WebRtcError.Closed, "the peer connection failed: " + ex.Message, ex);
        }
    }

    /// <summary>Dispatches the core's queued events now (on the loop), so they are seen before an awaited call returns.</summary>
    private void DrainEvents()
    {
        while (_core.TryPollEvent(out var e)) OnCoreEvent(e);
    }

    private void OnCoreEvent(PeerConnectionEvent e)
    {
        RefreshSendBufferUsed();
        var prev = _onLoopThread;
        _onLoopThread = this;
        try { Dispatch(e); }
        finally { _onLoopThread = prev; }
    }

    private void Dispatch(PeerConnectionEvent e)
    {
        switch (e.Kind)
        {
            case PeerConnectionEventKind.Ice:
                OnIceEvent(e.Ice);
                break;
            case PeerConnectionEventKind.DataChannel:
                OnDataChannelEvent(e.DataChannel);
                break;
            case PeerConnectionEventKind.ConnectionStateChanged:
                SetConnectionState(e.ConnectionState);
                break;
            case PeerConnectionEventKind.SignalingStateChanged:
                SignalingState = e.SignalingState;
                Raise(OnSignalingStateChange, e.SignalingState);
                break;
            case PeerConnectionEventKind.DtlsStateChanged:
                if (e.DtlsState == DtlsState.Failed) WebRtcLog.DtlsFailed(_log, e.Reason);
                else WebRtcLog.DtlsState(_log, e.DtlsState);
                break;
            case PeerConnectionEventKind.TransportsCreated:
                WebRtcLog.Event(_log, "transports created:", e.Reason);
                FlushPendingChannels(_loop.Clock.Now);
                break;
            case PeerConnectionEventKind.TransportError:
                WebRtcLog.Event(_log, "transport:", e.Reason);
                break;
            case PeerConnectionEventKind.Track or PeerConnectionEventKind.RtpReceived or PeerConnectionEventKind.KeyframeRequested or PeerConnectionEventKind.BitrateEstimate:
                DispatchMedia(e);
                break;
        }
    }

    private void OnIceEvent(IceEvent ie)
    {
        switch (ie.Kind)
        {
            case IceEventKind.CandidateGathered:
                WebRtcLog.Candidate(_log, ie.Candidate);
                Raise(OnIceCandidate, new RTCIceCandidateInit(ie.Candidate!.ToString(), _core.Mid, 0));
                break;
            case IceEventKind.GatheringComplete:
                Volatile.Write(ref _localDescription, _core.LocalDescription ?? _localDescription);
                IceGatheringState = RTCIceGatheringState.Complete;
                Raise(OnIceGatheringStateChange, IceGatheringState);
                Raise(OnIceCandidate, null);
                _gathered.TrySetResult();
                break;
            case IceEventKind.StateChanged:
                WebRtcLog.Event(_log, "ICE", ie.State);
                IceConnectionState = ie.State;
                Raise(OnIceConnectionStateChange, IceConnectionState);
                break;
            case IceEventKind.SelectedPairChanged:
                WebRtcLog.Event(_log, "selected pair", ie.Pair);
                _selectedPair = ie.Pair;
                break;
        }
    }

    private void OnDataChannelEvent(DataChannelEvent e)
    {
        switch (e.Kind)
        {
            case DataChannelEventKind.Connected:
                WebRtcLog.Event(_log, "SCTP", "connected");
                break;
            case DataChannelEventKind.ChannelOpened:
                if (_channels.TryGetValue(e.ChannelId, out var mine) && !e.IsRemote) { mine.SetOpen(RemoteMaxMessageSize); break; }
                var opts = e.Options ?? new DataChannelOptions();
                var ch = new RTCDataChannel(this, e.Label ?? "", new RTCDataChannelInit
                {
                    Ordered = opts.Ordered, MaxRetransmits = opts.MaxRetransmits,
                    MaxPacketLifeTime = opts.MaxPacketLifeTime is TimeSpan l ? (int)l.TotalMilliseconds : null,
                    Protocol = opts.Protocol, Negotiated = opts.Negotiated, Id = e.ChannelId,
                });
                ch.AssignId(e.ChannelId);
                _channels[e.ChannelId] = ch;
                ch.SetOpen(RemoteMaxMessageSize);
                Raise(OnDataChannel, ch);
                break;
            case DataChannelEventKind.MessageReceived:
                if (_channels.TryGetValue(e.ChannelId, out var rc)) rc.Deliver(e.Payload ?? [], e.IsText);
                break;
            case DataChannelEventKind.BufferedAmountLow:
                if (_channels.TryGetValue(e.ChannelId, out var bc)) { bc.UpdateBuffered(e.BufferedAmount); bc.RaiseBufferedAmountLow(); }
                break;
            case DataChannelEventKind.BufferedAmountChanged:
                if (_channels.TryGetValue(e.ChannelId, out var bch)) bch.UpdateBuffered(e.BufferedAmount);
                break;
            case DataChannelEventKind.ChannelError:
                if (_channels.TryGetValue(e.ChannelId, out var ec)) ec.RaiseError(new WebRtcException(e.Error, e.Reason ?? "channel error"));
                break;
            case DataChannelEventKind.ChannelClosed:
                if (_channels.Remove(e.ChannelId, out var cc)) cc.SetClosed();
                break;
            case DataChannelEventKind.Disconnected:
                WebRtcLog.Event(_log, "SCTP disconnected:", $"{e.Error} {e.Reason}");
                break;
        }
    }

    private void SetConnectionState(RTCPeerConnectionState s)
    {
        if (s == ConnectionState) return;
        ConnectionState = s;
        WebRtcLog.Event(_log, "connection", s);
        if (s is RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed) { CloseAllChannels(null); CompleteReceivers(); }
        Raise(OnConnectionStateChange, s);
    }

    private void CloseAllChannels(WebRtcException? failure)
    {
        foreach (var ch in _channels.Values.ToList())
        {
            if (failure is not null) ch.Fail(failure); else ch.SetClosed();
        }
        foreach (var ch in _pendingChannels)
        {
            if (failure is not null) ch.Fail(failure); else ch.SetClosed();
        }
        _channels.Clear();
        _pendingChannels.Clear();
    }

    /// <summary>
    /// The loop stopped. After <see cref="CloseAsync"/> that is normal; otherwise an exception escaped the core or a
    /// handler — a bug: fail the connection and its channels loudly instead of leaving callers waiting on a dead loop.
    /// </summary>
    private void OnLoopStopped(Task completion)
    {
        if (!completion.IsFaulted) return;
        var ex = completion.Exception!.GetBaseException();
        _failed = true;
        WebRtcLog.LoopFailed(_log, ex);
        var failure = new WebRtcException(WebRtcError.InternalError, "peer connection failed: " + ex.Message, ex);
        CloseAllChannels(failure);
        if (ConnectionState != RTCPeerConnectionState.Failed)
        {
            ConnectionState = RTCPeerConnectionState.Failed;
            Raise(OnConnectionStateChange, ConnectionState); // a handler that throws here is logged (the loop is gone already)
        }
    }

    /// <summary>Closes everything: SCTP ABORT, DTLS close_notify, sockets. Completes when the loop has stopped.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            await _closedTcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            if (!_failed)
                await InvokeAsync(now => { _core.Close(now); return true; }, cancellationToken).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (WebRtcException) { }
        catch (TimeoutException) { WebRtcLog.CloseTimeout(_log); }
        finally
        {
            // The loop flushes the final ABORT/close_notify before it stops; then the sockets go.
            await _loop.DisposeAsync().ConfigureAwait(false);
            await _cts.CancelAsync().ConfigureAwait(false);
            _sockets.Dispose();
            foreach (var p in _mdnsPublications)
            {
                try { await p.DisposeAsync().ConfigureAwait(false); }
                catch (Exception ex) when (ex is not OutOfMemoryException) { WebRtcLog.Event(_log, "unpublishing an mDNS name failed:", ex.Message); }
            }
            _core.Dispose();
            CompleteReceivers();
            // The close's events (state Closed, the channels' OnClose) have been handled when CloseAsync returns — unless
            // it was called from one of our handlers, which must not wait for the handlers queued behind it.
            if (_events.Barrier() is { } handlersRun)
            {
                try { await handlersRun.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false); }
                catch (TimeoutException) { WebRtcLog.Event(_log, "close:", "event handlers still running after 5 s"); }
            }
            _closedTcs.TrySetResult();
        }
    }

    /// <summary>Same as <see cref="CloseAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync(CancellationToken.None).ConfigureAwait(false);
        _cts.Dispose();
    }

    private static WebRtcException Closed() => new(WebRtcError.Closed, "the peer connection is closed");
}
