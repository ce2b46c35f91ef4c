using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using OspBridge.Net.Core;
using OspBridge.WebRtc.Sctp.Chunks;
using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// A sans-IO SCTP association (RFC 9260 subset) carried over DTLS (RFC 8261), with PR-SCTP (RFC 3758) and stream
/// reset (RFC 6525) as WebRTC data channels need them.
/// <para>
/// Drive it from one serialized loop: feed every decrypted DTLS application-data record to
/// <see cref="Receive(Span{byte}, DatagramPath, TimeSpan)"/>, drain <see cref="TryPollTransmit"/> into DTLS after every call (it returns one SCTP packet
/// of at most <see cref="SctpOptions.Mtu"/> bytes per call, false when nothing is to send), call
/// <see cref="HandleDeadline"/> when <see cref="NextDeadline"/> is reached, and drain <see cref="TryPollEvent"/>.
/// No method blocks, reads a clock or takes a lock; time is always the caller's monotonic <c>now</c>.
/// </para>
/// <para>
/// Both WebRTC peers may call <see cref="Connect"/> (the INIT collision of RFC 9260 §5.2.1 is handled and both end up
/// with one association), or only one of them (the other answers statelessly with INIT ACK + cookie).
/// </para>
/// </summary>
public sealed partial class SctpAssociation : IProtocolCore<SctpEvent>
{
    private static readonly byte[] SupportedExtensions = [SctpChunkType.ForwardTsn, SctpChunkType.ReConfig];

    private static readonly RandomNumberGenerator SystemRandom = RandomNumberGenerator.Create(); // thread-safe

    private readonly SctpOptions _o;
    private readonly RandomNumberGenerator _random;
    private readonly byte[] _cookieKey = new byte[32];
    private readonly RtoEstimator _rto;
    private readonly Queue<SctpEvent> _events = new();
    private bool _terminated;
    private bool _connectCalled;

    private uint _localTag;
    private uint _peerTag;
    private uint _localInitialTsn;
    private ushort _outStreamCount;
    private ushort _inStreamCount;
    private bool _peerForwardTsn;
    private bool _peerReconfig;

    // Handshake.
    private bool _sendInit;
    private bool _sendCookieEcho;
    private byte[] _cookieEcho = [];
    private bool _sendCookieAck;
    private TimeSpan? _t1;
    private TimeSpan _t1Rto;
    private int _initRetransmits;
    private readonly Queue<(byte[] Buffer, int Length, uint Tag)> _standalone = new();

    // Shutdown / abort.
    private bool _sendShutdown;
    private bool _sendShutdownAck;
    private bool _sendShutdownComplete;
    private TimeSpan? _t2;
    private bool _sendAbort;
    private uint _abortTag;
    private bool _abortReflected;
    private ushort _abortCause;

    // Heartbeat.
    private TimeSpan? _heartbeatTimer;
    private bool _sendHeartbeat;
    private bool _heartbeatOutstanding;
    private ulong _heartbeatNonce;
    private readonly byte[] _heartbeatAckInfo;
    private int _heartbeatAckLength = -1;

    // ERROR chunk to report (one pending at a time).
    private ushort _errorCause;
    private readonly byte[] _errorInfo = new byte[64];
    private int _errorInfoLength = -1;

    private int _errorCount;

    /// <summary>Creates an association in <see cref="SctpState.Closed"/>; it answers an incoming INIT even before <see cref="Connect"/>.</summary>
    public SctpAssociation(SctpOptions? options = null)
    {
        _o = options ?? new SctpOptions();
        _o.Validate();
        _random = _o.Random ?? SystemRandom;
        _random.GetBytes(_cookieKey);
        _rto = new RtoEstimator(_o.RtoInitial, _o.RtoMin, _o.RtoMax);
        _heartbeatAckInfo = new byte[_o.Mtu];
        _outStreams = new OutStream[_o.OutboundStreams];
        _sendQueue = new SendScheduler(_o.OutboundStreams);
        _arena = new SendArena(_bytePool);
        _inStreams = new InStream[_o.InboundStreams];
        _dupTsns = new uint[16];
    }

    /// <summary>The options this association runs with.</summary>
    public SctpOptions Options => _o;

    /// <summary>Current state.</summary>
    public SctpState State { get; private set; }

    /// <summary>Outbound streams after negotiation (min of ours and the peer's inbound); 0 before establishment.</summary>
    public int OutboundStreamCount => _outStreamCount;

    /// <summary>Inbound streams after negotiation; 0 before establishment.</summary>
    public int InboundStreamCount => _inStreamCount;

    /// <summary>True if the peer announced RE-CONFIG (stream reset) support.</summary>
    public bool PeerSupportsStreamReset => _peerReconfig;

    /// <summary>True if the peer announced FORWARD-TSN (partial reliability) support.</summary>
    public bool PeerSupportsForwardTsn => _peerForwardTsn;

    /// <summary>Current retransmission timeout.</summary>
    public TimeSpan Rto => _rto.Rto;

    /// <summary>Smoothed RTT, once measured.</summary>
    public TimeSpan? SmoothedRtt => _rto.SmoothedRtt;

    /// <summary>Congestion window in bytes.</summary>
    public long CongestionWindow => _cwnd;

    /// <summary>Diagnostics: the retransmission queue and the two TSN ack points (for stall reports, e.g. the echo bench).</summary>
    internal string DebugState => string.Create(CultureInfo.InvariantCulture,
        $"inflight {_inflight.Count} rtxPending {_retransmitPending} fastRtx {_fastRetransmitPending} cumAck {_cumAckTsn} nextTsn {_nextTsn} t3 {(_t3 is null ? "off" : "on")} peerRwnd {_peerRwnd} peerCum {_peerCumTsn} sackNeeded {_sackNeeded} t3x {T3Expiries} fastRecoveries {FastRecoveries} fastRtxChunks {FastRetransmittedChunks} gapSacks {SacksWithGaps} dataPackets {DataPacketsSent} maxBurst {MaxBurstPackets} burstStops {BurstLimitStops} heldRx {_rxHeld} dataPacketsIn {_dataPacketsReceived} sacksOut {_sacksSent} gapSacksOut {_gapSacksSent} dupTsnsIn {_duplicatesReceived} windowDrops {_windowDrops} lowRwndSacks {_lowWindowSacks} minRwnd {(_minAdvertisedRwnd == uint.MaxValue ? 0 : _minAdvertisedRwnd)}");

    /// <summary>Packets dropped on input (bad checksum, ports, tag or layout).</summary>
    public long DroppedPackets { get; private set; }

    /// <summary>DATA chunks sent again (fast retransmit or T3).</summary>
    public long RetransmittedChunks { get; private set; }

    /// <summary>Earliest time <see cref="HandleDeadline"/> must be called, or null when no timer runs.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            TimeSpan? m = null;
            Min(ref m, _t1);
            Min(ref m, _t2);
            Min(ref m, _t3);
            Min(ref m, _delayedSack);
            Min(ref m, _heartbeatTimer);
            Min(ref m, _reconfigTimer);
            return m;

            static void Min(ref TimeSpan? m, TimeSpan? t)
            {
                if (t is { } v && (m is null || v < m.Value))
                {
                    m = v;
                }
            }
        }
    }

    /// <summary>
    /// Starts the association: sends INIT and runs T1-init. In WebRTC either or both peers call this once DTLS is
    /// connected; an INIT collision is resolved by RFC 9260 §5.2.1 rules. Idempotent: a second call, or a call after
    /// the peer's handshake already established the association, does nothing. Throws once the association has ended.
    /// </summary>
    public void Connect(TimeSpan now)
    {
        if (_terminated)
        {
            throw new WebRtcException(WebRtcError.InvalidState, "The association has ended.");
        }
        if (_connectCalled || State != SctpState.Closed)
        {
            return; // already connecting or connected (e.g. the peer's INIT got here first): nothing to do
        }
        _connectCalled = true;
        _localTag = RandomTag();
        _localInitialTsn = RandomUInt();
        State = SctpState.CookieWait;
        _sendInit = true;
        _t1Rto = _o.RtoInitial;
        _t1 = now + _t1Rto;
    }

    /// <summary>Takes the next event; false when none is pending.</summary>
    public bool TryPollEvent(out SctpEvent ev)
    {
        if (!_events.TryDequeue(out ev))
        {
            return false;
        }
        if (ev.Kind == SctpEventKind.MessageReceived && ev.Data is { } d)
        {
            _rxBuffered -= d.Length;
            _rxUndrained -= d.Length;
            MaybeWindowUpdate();
        }
        return true;
    }

    internal uint LocalTag => _localTag;

    internal SctpEventKind? PeekEventKind() => _events.TryPeek(out var e) ? e.Kind : null;

    /// <summary>Events waiting in <see cref="TryPollEvent"/>.</summary>
    public int PendingEventCount => _events.Count;

    /// <summary>Starts a graceful shutdown (RFC 9260 §9.2): queued data is delivered first, then SHUTDOWN.</summary>
    public void Shutdown(TimeSpan now)
    {
        switch (State)
        {
            case SctpState.Established:
                State = SctpState.ShutdownPending;
                MaybeProgressShutdown(now);
                break;
            case SctpState.CookieWait:
            case SctpState.CookieEchoed:
                Terminate();
                _events.Enqueue(new SctpEvent(SctpEventKind.Closed));
                break;
        }
    }

    /// <summary>Aborts at once (sends ABORT with "User-Initiated Abort"); reports <see cref="SctpEventKind.Closed"/>.</summary>
    public void Abort()
    {
        if (State == SctpState.Closed)
        {
            return;
        }
        QueueAbort(SctpErrorCause.UserInitiatedAbort);
        Terminate();
        _events.Enqueue(new SctpEvent(SctpEventKind.Closed));
    }

    /// <summary>
    /// Processes one SCTP packet (one decrypted DTLS application-data record). Bad input is dropped, never thrown.
    /// The packet is only read, never modified; <paramref name="path"/> is ignored (SCTP runs over connected DTLS).
    /// </summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now) => Receive((ReadOnlySpan<byte>)datagram, now);

    /// <summary>Processes one SCTP packet held in read-only memory; see <see cref="Receive(Span{byte}, DatagramPath, TimeSpan)"/>.</summary>
    public void Receive(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        if (!SctpCommonHeader.TryRead(packet, out var header) || header.DestinationPort != _o.LocalPort || header.SourcePort != _o.RemotePort)
        {
            DroppedPackets++;
            return;
        }
        if (_terminated)
        {
            // RFC 9260 §8.4 (5): answer a SHUTDOWN ACK for an association we already closed (our SHUTDOWN COMPLETE was lost).
            var r0 = new SctpChunkReader(packet.Slice(SctpCommonHeader.Length));
            if (r0.TryRead(out byte t0, out _, out _) && t0 == SctpChunkType.ShutdownAck && header.VerificationTag == _localTag && _peerTag != 0)
            {
                _sendShutdownComplete = true;
            }
            DroppedPackets++;
            return;
        }
        AllowBurst();
        var reader = new SctpChunkReader(packet.Slice(SctpCommonHeader.Length));
        bool first = true;
        _dataInPacket = false;
        while (reader.TryRead(out byte type, out byte flags, out var value))
        {
            if (!TagAcceptable(type, flags, header.VerificationTag, first))
            {
                if (first)
                {
                    DroppedPackets++;
                }
                break;
            }
            first = false;
            if (!HandleChunk(type, flags, value, header.VerificationTag, now) || _terminated)
            {
                break;
            }
        }
        if (_dataInPacket)
        {
            AfterDataPacket(now);
        }
        MaybeProgressShutdown(now);
    }

    private bool TagAcceptable(byte type, byte flags, uint tag, bool first)
    {
        switch (type)
        {
            case SctpChunkType.Init:
                return tag == 0 && first;
            case SctpChunkType.CookieEcho:
                return true; // checked against the cookie
            case SctpChunkType.Abort:
            case SctpChunkType.ShutdownComplete:
                if (_localTag == 0)
                {
                    return false;
                }
                return (flags & AbortChunk.FlagT) != 0 ? tag == _peerTag && _peerTag != 0 : tag == _localTag;
            default:
                return _localTag != 0 && tag == _localTag;
        }
    }

    /// <summary>Handles one chunk; false = stop processing the rest of the packet.</summary>
    private bool HandleChunk(byte type, byte flags, ReadOnlySpan<byte> value, uint tag, TimeSpan now)
    {
        switch (type)
        {
            case SctpChunkType.Data:
                HandleData(flags, value, now);
                return true;
            case SctpChunkType.Sack:
                HandleSack(value, now);
                return true;
            case SctpChunkType.Init:
                HandleInit(value, now);
                return false;
            case SctpChunkType.InitAck:
                HandleInitAck(value, now);
                return false;
            case SctpChunkType.CookieEcho:
                return HandleCookieEcho(value, tag, now);
            case SctpChunkType.CookieAck:
                if (State == SctpState.CookieEchoed)
                {
                    Established(now);
                }
                return true;
            case SctpChunkType.Heartbeat:
                if (HeartbeatChunk.TryParse(value, out var info) && info.Length <= _heartbeatAckInfo.Length - 16)
                {
                    info.CopyTo(_heartbeatAckInfo);
                    _heartbeatAckLength = info.Length;
                }
                return true;
            case SctpChunkType.HeartbeatAck:
                HandleHeartbeatAck(value, now);
                return true;
            case SctpChunkType.Abort:
                Terminate();
                _events.Enqueue(new SctpEvent(SctpEventKind.Aborted, Error: WebRtcError.Aborted,
                    Reason: ErrorChunk.FirstCause(value) is { } c ? $"peer sent ABORT (cause {c})" : "peer sent ABORT"));
                return false;
            case SctpChunkType.Shutdown:
                HandleShutdown(value, now);
                return true;
            case SctpChunkType.ShutdownAck:
                if (State is SctpState.ShutdownSent or SctpState.ShutdownAckSent)
                {
                    _sendShutdownComplete = true;
                    Terminate();
                    _events.Enqueue(new SctpEvent(SctpEventKind.Closed));
                }
                return false;
            case SctpChunkType.ShutdownComplete:
                if (State == SctpState.ShutdownAckSent)
                {
                    Terminate();
                    _events.Enqueue(new SctpEvent(SctpEventKind.Closed));
                }
                return false;
            case SctpChunkType.Error:
                if (State == SctpState.CookieEchoed && ErrorChunk.FirstCause(value) == SctpErrorCause.StaleCookie)
                {
                    // RFC 9260 §5.2.6: our cookie went stale on the way; start over with INIT.
                    State = SctpState.CookieWait;
                    _sendCookieEcho = false;
                    _sendInit = true;
                    _t1Rto = _o.RtoInitial;
                    _t1 = now + _t1Rto;
                }
                return true; // other causes are informational
            case SctpChunkType.ForwardTsn:
                HandleForwardTsn(value, now);
                return true;
            case SctpChunkType.ReConfig:
                HandleReconfig(value, now);
                return true;
            default:
                // RFC 9260 §3.2: the two high bits say what to do with an unknown chunk type.
                if ((type & 0x40) != 0)
                {
                    QueueError(SctpErrorCause.UnrecognizedChunkType, [type, flags, 0, 4]);
                }
                return (type & 0x80) != 0;
        }
    }

    // ---- handshake -------------------------------------------------------------------------------------------

    private void HandleInit(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (!InitChunk.TryParse(value, out var init) || init.InitiateTag == 0 || init.OutboundStreams == 0 || init.InboundStreams == 0)
        {
            return;
        }
        uint localTag;
        uint localTsn;
        switch (State)
        {
            case SctpState.Closed when !_connectCalled:
                localTag = RandomTag();
                localTsn = RandomUInt();
                break;
            case SctpState.CookieWait:
            case SctpState.CookieEchoed:
                localTag = _localTag;      // INIT collision: answer with our own tag (RFC 9260 §5.2.1)
                localTsn = _localInitialTsn;
                break;
            default:
                return; // restarts of an established association are not supported: the INIT is ignored
        }
        if (_standalone.Count >= 4)
        {
            return;
        }
        ReadPeerExtensions(init.Parameters, out bool fwd, out bool reconf);
        var cookie = new StateCookie
        {
            Flags = (byte)((fwd ? StateCookie.FlagPeerForwardTsn : 0) | (reconf ? StateCookie.FlagPeerReconfig : 0)),
            CreatedTicks = now.Ticks,
            LifetimeMs = (uint)_o.CookieLifetime.TotalMilliseconds,
            LocalTag = localTag,
            PeerTag = init.InitiateTag,
            LocalInitialTsn = localTsn,
            PeerInitialTsn = init.InitialTsn,
            PeerReceiverWindow = init.AdvertisedReceiverWindow,
            PeerOutboundStreams = init.OutboundStreams,
            PeerInboundStreams = init.InboundStreams,
        };
        var buffer = new byte[SctpCommonHeader.Length + 4 + InitChunk.FixedLength + 128];
        var p = buffer.AsSpan(SctpCommonHeader.Length + 4 + InitChunk.FixedLength);
        Span<byte> c = stackalloc byte[StateCookie.Length];
        cookie.Write(c, _cookieKey);
        // Parameter order keeps the last one unpadded, so the chunk length needs no padding rule (RFC 9260 §3.2).
        int plen = StateCookieParameter.Write(p, c);
        plen += SupportedExtensionsParameter.Write(p.Slice(plen), SupportedExtensions);
        plen += ForwardTsnSupportedParameter.Write(p.Slice(plen));
        var chunk = buffer.AsSpan(SctpCommonHeader.Length);
        InitChunk.WriteFixed(chunk.Slice(4), localTag, AdvertisedWindow(), _o.OutboundStreams, _o.InboundStreams, localTsn);
        int len = SctpChunkReader.WriteHeader(chunk, SctpChunkType.InitAck, 0, InitChunk.FixedLength + plen);
        _standalone.Enqueue((buffer, SctpCommonHeader.Length + len, init.InitiateTag));
    }

    private static void ReadPeerExtensions(ReadOnlySpan<byte> parameters, out bool forwardTsn, out bool reconfig)
    {
        forwardTsn = false;
        reconfig = false;
        var r = new SctpParameterReader(parameters);
        while (r.TryRead(out var type, out var v))
        {
            if (type == SctpParameterType.ForwardTsnSupported)
            {
                forwardTsn = true;
            }
            else if (type == SctpParameterType.SupportedExtensions)
            {
                forwardTsn |= SupportedExtensionsParameter.Contains(v, SctpChunkType.ForwardTsn);
                reconfig |= SupportedExtensionsParameter.Contains(v, SctpChunkType.ReConfig);
            }
            else if ((type & 0x8000) == 0 && type is not (SctpParameterType.StateCookie or SctpParameterType.CookiePreservative
                or SctpParameterType.SupportedAddressTypes or 5 or 6 or 11))
            {
                break; // unknown with high bit 0: stop processing the parameters (RFC 9260 §3.2.1)
            }
        }
    }

    private void HandleInitAck(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (State != SctpState.CookieWait || !InitAckChunk.TryParse(value, out var ack) || ack.InitiateTag == 0
            || ack.OutboundStreams == 0 || ack.InboundStreams == 0)
        {
            return;
        }
        ReadOnlySpan<byte> cookie = default;
        bool found = false;
        var r = new SctpParameterReader(ack.Parameters);
        while (r.TryRead(out var type, out var v))
        {
            if (type == SctpParameterType.StateCookie)
            {
                cookie = v;
                found = true;
            }
        }
        if (!found || cookie.Length == 0 || cookie.Length > _o.Mtu - SctpCommonHeader.Length - 8)
        {
            return;
        }
        ReadPeerExtensions(ack.Parameters, out bool fwd, out bool reconf);
        _cookieEcho = cookie.ToArray();
        SetUpAssociation(_localTag, ack.InitiateTag, _localInitialTsn, ack.InitialTsn, ack.AdvertisedReceiverWindow,
            ack.OutboundStreams, ack.InboundStreams, fwd, reconf);
        State = SctpState.CookieEchoed;
        _sendInit = false;
        _sendCookieEcho = true;
        _initRetransmits = 0;
        _t1Rto = _o.RtoInitial;
        _t1 = now + _t1Rto;
    }

    private bool HandleCookieEcho(ReadOnlySpan<byte> value, uint tag, TimeSpan now)
    {
        if (!StateCookie.TryRead(value, _cookieKey, out var cookie) || cookie.LocalTag != tag)
        {
            DroppedPackets++;
            return false;
        }
        if (State >= SctpState.Established && cookie.LocalTag == _localTag && cookie.PeerTag == _peerTag)
        {
            _sendCookieAck = true; // our COOKIE ACK was lost (RFC 9260 §5.2.4 case D; no lifetime check for it)
            return true;
        }
        long age = now.Ticks - cookie.CreatedTicks;
        if (age > cookie.LifetimeMs * TimeSpan.TicksPerMillisecond || age < 0)
        {
            // Stale (RFC 9260 §5.1.5 step 4): drop it and tell the peer, which then restarts with INIT.
            if (_standalone.Count < 4)
            {
                var err = new byte[SctpCommonHeader.Length + 16];
                int n = SctpChunkReader.WriteHeader(err.AsSpan(SctpCommonHeader.Length), SctpChunkType.Error, 0,
                    ErrorChunk.WriteStaleCookieCause(err.AsSpan(SctpCommonHeader.Length + 4), (uint)Math.Min(uint.MaxValue, Math.Abs(age) / 10)));
                _standalone.Enqueue((err, SctpCommonHeader.Length + n, cookie.PeerTag));
            }
            return false;
        }
        switch (State)
        {
            case SctpState.Closed when !_connectCalled:
            case SctpState.CookieWait when cookie.LocalTag == _localTag:
            case SctpState.CookieEchoed when cookie.LocalTag == _localTag:
                SetUpAssociation(cookie.LocalTag, cookie.PeerTag, cookie.LocalInitialTsn, cookie.PeerInitialTsn, cookie.PeerReceiverWindow,
                    cookie.PeerOutboundStreams, cookie.PeerInboundStreams,
                    (cookie.Flags & StateCookie.FlagPeerForwardTsn) != 0, (cookie.Flags & StateCookie.FlagPeerReconfig) != 0);
                _sendCookieAck = true;
                Established(now);
                return true;
            default:
                return false;
        }
    }

    private void SetUpAssociation(uint localTag, uint peerTag, uint localTsn, uint peerTsn, uint peerRwnd, ushort peerOs, ushort peerMis, bool fwd, bool reconf)
    {
        _localTag = localTag;
        _peerTag = peerTag;
        _localInitialTsn = localTsn;
        _nextTsn = localTsn;
        _cumAckTsn = localTsn - 1;
        _advancedPeerAckPoint = _cumAckTsn;
        _peerCumTsn = peerTsn - 1;
        _highestRxTsn = _peerCumTsn;
        _peerRwnd = peerRwnd;
        _ssthresh = peerRwnd;
        _cwnd = Math.Min(4L * _o.Mtu, Math.Max(2L * _o.Mtu, 4380));
        _outStreamCount = Math.Min(_o.OutboundStreams, peerMis);
        _inStreamCount = Math.Min(_o.InboundStreams, peerOs);
        _peerForwardTsn = fwd;
        _peerReconfig = reconf;
        _reconfigRequestSeq = localTsn;
        _peerReconfigSeq = peerTsn;
    }

    private void Established(TimeSpan now)
    {
        State = SctpState.Established;
        _sendInit = false;
        _sendCookieEcho = false;
        _t1 = null;
        _errorCount = 0;
        _heartbeatTimer = now + _o.HeartbeatInterval + _rto.Rto;
        _events.Enqueue(new SctpEvent(SctpEventKind.Connected));
    }

    // ---- heartbeat, shutdown, failure ----------------------------------------------------------------------------

    private void HandleHeartbeatAck(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (!HeartbeatAckChunk.TryParse(value, out var info) || info.Length != 16 || !_heartbeatOutstanding)
        {
            return;
        }
        if (BinaryPrimitives.ReadUInt64BigEndian(info) != _heartbeatNonce)
        {
            return;
        }
        long sent = BinaryPrimitives.ReadInt64BigEndian(info.Slice(8));
        if (sent <= now.Ticks)
        {
            _rto.AddSample(TimeSpan.FromTicks(now.Ticks - sent));
        }
        _heartbeatOutstanding = false;
        _errorCount = 0;
    }

    private void HandleShutdown(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (!ShutdownChunk.TryParse(value, out uint cum))
        {
            return;
        }
        switch (State)
        {
            case SctpState.Established:
            case SctpState.ShutdownPending:
            case SctpState.ShutdownReceived:
                ProcessCumulativeAck(cum, now);
                State = SctpState.ShutdownReceived;
                break;
            case SctpState.ShutdownSent:
                // Both sides shut down at once: answer with SHUTDOWN ACK (RFC 9260 §9.2).
                State = SctpState.ShutdownAckSent;
                _sendShutdown = false;
                _sendShutdownAck = true;
                _t2 = now + _rto.Rto;
                break;
        }
    }

    private void MaybeProgressShutdown(TimeSpan now)
    {
        if (State is not (SctpState.ShutdownPending or SctpState.ShutdownReceived) || HasUnfinishedData)
        {
            return;
        }
        if (State == SctpState.ShutdownPending)
        {
            State = SctpState.ShutdownSent;
            _sendShutdown = true;
        }
        else
        {
            State = SctpState.ShutdownAckSent;
            _sendShutdownAck = true;
        }
        _t3 = null;
        _errorCount = 0;
        _t2 = now + _rto.Rto;
    }

    private void Fail(WebRtcError error, string reason)
    {
        QueueAbort(SctpErrorCause.ProtocolViolation);
        Terminate();
        _events.Enqueue(new SctpEvent(SctpEventKind.Aborted, Error: error, Reason: reason));
    }

    private void QueueAbort(ushort cause)
    {
        if (_peerTag == 0)
        {
            return;
        }
        _sendAbort = true;
        _abortTag = _peerTag;
        _abortReflected = false;
        _abortCause = cause;
    }

    private void Terminate()
    {
        State = SctpState.Closed;
        _terminated = true;
        _t1 = _t2 = _t3 = _delayedSack = _heartbeatTimer = _reconfigTimer = null;
        _sendInit = _sendCookieEcho = _sendShutdown = _sendShutdownAck = false;
        _sendHeartbeat = false;
        _heartbeatAckLength = -1;
        _sackNeeded = false;
        ReleaseAllSendState();
        ReleaseAllReceiveState();
    }

    private void QueueError(ushort cause, ReadOnlySpan<byte> info)
    {
        if (_errorInfoLength >= 0 || info.Length > _errorInfo.Length)
        {
            return;
        }
        _errorCause = cause;
        info.CopyTo(_errorInfo);
        _errorInfoLength = info.Length;
    }

    /// <summary>Runs the timers that are due at <paramref name="now"/>.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        if (_t1 is { } t1 && t1 <= now)
        {
            if (++_initRetransmits > _o.MaxInitRetransmits)
            {
                Terminate();
                _events.Enqueue(new SctpEvent(SctpEventKind.Aborted, Error: WebRtcError.Timeout, Reason: "no answer to INIT / COOKIE ECHO"));
                return;
            }
            _t1Rto = _t1Rto + _t1Rto > _o.RtoMax ? _o.RtoMax : _t1Rto + _t1Rto;
            _t1 = now + _t1Rto;
            if (State == SctpState.CookieWait)
            {
                _sendInit = true;
            }
            else if (State == SctpState.CookieEchoed)
            {
                _sendCookieEcho = true;
            }
        }
        if (_t2 is { } t2 && t2 <= now)
        {
            if (++_errorCount > _o.MaxRetransmissions)
            {
                Fail(WebRtcError.Timeout, "no answer to SHUTDOWN");
                return;
            }
            _rto.Backoff();
            _t2 = now + _rto.Rto;
            if (State == SctpState.ShutdownSent)
            {
                _sendShutdown = true;
            }
            else if (State == SctpState.ShutdownAckSent)
            {
                _sendShutdownAck = true;
            }
        }
        if (_t3 is { } t3 && t3 <= now)
        {
            OnT3Expired(now);
            if (_terminated)
            {
                return;
            }
        }
        if (_delayedSack is { } ds && ds <= now)
        {
            _delayedSack = null;
            if (_sackNeeded)
            {
                _sackDueNow = true;
            }
        }
        if (_heartbeatTimer is { } hb && hb <= now)
        {
            if (_bufferedTotal == 0)
            {
                _arena.Trim(); // idle for a heartbeat interval: give back what the last burst left in the send arena
            }
            if (_bufferedTotal == 0 && _rxChunks.Count == 0)
            {
                _bytePool.Trim(64 * 1024); // … and in the byte pool (large messages, received fragments)
            }
            if (_heartbeatOutstanding && ++_errorCount > _o.MaxRetransmissions)
            {
                Fail(WebRtcError.Timeout, "peer stopped answering HEARTBEAT");
                return;
            }
            if (State is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownReceived)
            {
                _sendHeartbeat = true;
                _heartbeatTimer = now + _o.HeartbeatInterval + _rto.Rto;
            }
            else
            {
                _heartbeatTimer = null;
            }
        }
        if (_reconfigTimer is { } rc && rc <= now)
        {
            OnReconfigTimer(now);
        }
    }

    private uint AdvertisedWindow() => (uint)Math.Max(0, _o.ReceiveWindow - _rxBuffered - _rxHeld);

    private uint RandomTag()
    {
        uint t;
        do
        {
            t = RandomUInt();
        }
        while (t == 0);
        return t;
    }

    private uint RandomUInt()
    {
        Span<byte> b = stackalloc byte[4];
        _random.GetBytes(b);
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    // ---- output -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Builds the next SCTP packet to hand to DTLS (one record each). <paramref name="destination"/> must hold at
    /// least <see cref="SctpOptions.Mtu"/> bytes. Returns false when nothing is to be sent now. Call it in a loop until false.
    /// </summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        bool ok = TryBuildPacket(destination, now, out int length);
        transmit = new Transmit(length, DatagramPath.None);
        return ok;
    }

    private bool TryBuildPacket(Span<byte> destination, TimeSpan now, out int length)
    {
        length = 0;
        if (destination.Length < _o.Mtu)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, $"Packet buffer must hold at least {_o.Mtu} bytes.");
        }
        // Chunks are padded to 4-byte boundaries, so the usable packet length is the MTU rounded down to a
        // multiple of 4; otherwise a DATA chunk sized to fill the packet overruns it by its padding.
        var buf = destination.Slice(0, _o.Mtu & ~3);
        if (_standalone.TryDequeue(out var sa))
        {
            sa.Buffer.AsSpan(0, sa.Length).CopyTo(buf);
            new SctpCommonHeader(_o.LocalPort, _o.RemotePort, sa.Tag).Write(buf);
            SctpCommonHeader.Seal(buf.Slice(0, sa.Length));
            length = sa.Length;
            return true;
        }
        if (_sendAbort)
        {
            _sendAbort = false;
            Span<byte> cause = stackalloc byte[4];
            int clen = ErrorChunk.WriteCause(cause, _abortCause, default);
            int n = SctpCommonHeader.Length + AbortChunk.Write(buf.Slice(SctpCommonHeader.Length), _abortReflected, cause.Slice(0, clen));
            return Finish(buf, n, _abortTag, out length);
        }
        if (_sendInit && State == SctpState.CookieWait)
        {
            _sendInit = false;
            var chunk = buf.Slice(SctpCommonHeader.Length);
            var p = chunk.Slice(4 + InitChunk.FixedLength);
            int plen = SupportedExtensionsParameter.Write(p, SupportedExtensions);
            plen += ForwardTsnSupportedParameter.Write(p.Slice(plen));
            int n = SctpCommonHeader.Length + InitChunk.Write(chunk, _localTag, AdvertisedWindow(), _o.OutboundStreams, _o.InboundStreams, _localInitialTsn, p.Slice(0, plen));
            return Finish(buf, n, 0, out length);
        }
        if (_peerTag == 0)
        {
            return false;
        }
        int pos = SctpCommonHeader.Length;
        if (_sendCookieEcho && State == SctpState.CookieEchoed)
        {
            _sendCookieEcho = false;
            pos += CookieEchoChunk.Write(buf.Slice(pos), _cookieEcho);
        }
        if (_sendCookieAck)
        {
            _sendCookieAck = false;
            pos += CookieAckChunk.Write(buf.Slice(pos));
        }
        if (_sendShutdownComplete)
        {
            _sendShutdownComplete = false;
            pos += ShutdownCompleteChunk.Write(buf.Slice(pos), false);
            return Finish(buf, pos, _peerTag, out length);
        }
        if (_terminated)
        {
            return pos > SctpCommonHeader.Length && Finish(buf, pos, _peerTag, out length);
        }
        if (_sendShutdownAck)
        {
            _sendShutdownAck = false;
            pos += ShutdownAckChunk.Write(buf.Slice(pos));
        }
        bool dataState = State is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownReceived;
        if (_sackNeeded && State >= SctpState.Established && (_sackDueNow || (dataState && HasDataReadyToSend())))
        {
            pos += WriteSack(buf.Slice(pos));
        }
        if (_sendShutdown)
        {
            _sendShutdown = false;
            pos += ShutdownChunk.Write(buf.Slice(pos), _peerCumTsn);
        }
        if (_heartbeatAckLength >= 0 && pos + _heartbeatAckLength + 8 <= buf.Length)
        {
            pos += HeartbeatAckChunk.Write(buf.Slice(pos), _heartbeatAckInfo.AsSpan(0, _heartbeatAckLength));
            _heartbeatAckLength = -1;
        }
        if (_sendHeartbeat && pos + 24 <= buf.Length)
        {
            _sendHeartbeat = false;
            _heartbeatOutstanding = true;
            Span<byte> info = stackalloc byte[16];
            _random.GetBytes(info.Slice(0, 8));
            _heartbeatNonce = BinaryPrimitives.ReadUInt64BigEndian(info);
            BinaryPrimitives.WriteInt64BigEndian(info.Slice(8), now.Ticks);
            pos += HeartbeatChunk.Write(buf.Slice(pos), info);
        }
        if (_errorInfoLength >= 0 && pos + _errorInfoLength + 12 <= buf.Length)
        {
            pos += ErrorChunk.Write(buf.Slice(pos), _errorCause, _errorInfo.AsSpan(0, _errorInfoLength));
            _errorInfoLength = -1;
        }
        if (State >= SctpState.Established)
        {
            pos = WriteForwardTsn(buf, pos);
            pos = WriteReconfig(buf, pos, now);
        }
        if (dataState)
        {
            pos = WriteData(buf, pos, now);
        }
        return pos > SctpCommonHeader.Length && Finish(buf, pos, _peerTag, out length);
    }

    private bool Finish(Span<byte> buf, int pos, uint tag, out int length)
    {
        new SctpCommonHeader(_o.LocalPort, _o.RemotePort, tag).Write(buf);
        SctpCommonHeader.Seal(buf.Slice(0, pos));
        length = pos;
        return true;
    }
}
