using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Core;

/// <summary>Options of a <see cref="PeerFetchMux"/>.</summary>
internal sealed record PeerFetchMuxOptions
{
    /// <summary>True for the end that opened the channel (odd stream ids).</summary>
    public bool IsInitiator { get; init; }
    /// <summary>Limits announced to the peer in our HELLO.</summary>
    public PeerFetchSettings LocalSettings { get; init; } = PeerFetchSettings.Default;
    /// <summary>The channel's max message size towards the peer (0 = unknown).</summary>
    public long MaxMessageSize { get; init; }
    /// <summary>How long to wait for the peer's HELLO.</summary>
    public TimeSpan NegotiationTimeout { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Once open: send a PING after this long without any frame from the peer (zero: never).</summary>
    public TimeSpan KeepAliveInterval { get; init; }
    /// <summary>Once open: close the channel (GOAWAY, every stream reset) after this long without any frame from the peer (zero: never).</summary>
    public TimeSpan IdleTimeout { get; init; }
}

/// <summary>Multiplexer state.</summary>
internal enum MuxState
{
    Idle,
    Negotiating,
    Open,
    Closed,
}

/// <summary>
/// The sans-IO PeerFetch v2 core: whole channel messages and <c>now</c> in, messages to send, events and a deadline
/// out. No I/O, no clock, no threads; the caller serializes every call (docs/peerfetch.md §2).
/// </summary>
internal sealed class PeerFetchMux
{
    private readonly PeerFetchMuxOptions _options;
    private readonly Queue<OutFrame> _out = new();
    private readonly Queue<MuxEvent> _events = new();
    private readonly Dictionary<uint, StreamState> _streams = [];
    private PeerFetchSettings _peer = PeerFetchSettings.Default;
    private uint _nextLocalId;
    private uint _lastPeerId;
    private long _channelSendWindow;
    private long _channelRecvCredit;
    private long _channelUnacked;
    private int _peerStreams;
    private int _localStreams;
    private bool _sentGoAway;
    private bool _peerGoAway;
    private TimeSpan? _negotiationDeadline;
    private TimeSpan _lastReceived;
    private bool _keepAliveSent;

    /// <summary>Opaque value of our keep-alive PINGs (their ACKs are not reported as events).</summary>
    internal const ulong KeepAliveOpaque = 0x6b65_6570_616c_6976; // "keepaliv"

    public PeerFetchMux(PeerFetchMuxOptions options)
    {
        _options = options;
        _nextLocalId = options.IsInitiator ? 1u : 2u;
        _channelRecvCredit = options.LocalSettings.InitialChannelWindow;
    }

    public MuxState State { get; private set; }
    public PeerFetchSettings PeerSettings => _peer;
    public bool PeerGoingAway => _peerGoAway;
    public bool LocalGoingAway => _sentGoAway;
    public int ActiveStreams => _streams.Count;
    public int LocalStreams => _localStreams;
    public long ChannelSendWindow => _channelSendWindow;
    public TimeSpan? NextDeadline
    {
        get
        {
            if (State == MuxState.Negotiating) return _negotiationDeadline;
            if (State != MuxState.Open) return null;
            TimeSpan? next = null;
            if (_options.KeepAliveInterval > TimeSpan.Zero && !_keepAliveSent) next = _lastReceived + _options.KeepAliveInterval;
            if (_options.IdleTimeout > TimeSpan.Zero)
            {
                var idle = _lastReceived + _options.IdleTimeout;
                if (next is null || idle < next) next = idle;
            }
            return next;
        }
    }

    /// <summary>Largest DATA payload we put in one frame (peer limit and channel max-message-size).</summary>
    public int MaxSendPayload
    {
        get
        {
            long max = _peer.MaxFramePayload;
            if (_options.MaxMessageSize > FrameHeader.Size) max = Math.Min(max, _options.MaxMessageSize - FrameHeader.Size);
            return (int)Math.Max(1, max);
        }
    }

    /// <summary>Queues our HELLO and starts the negotiation deadline.</summary>
    public void Start(TimeSpan now)
    {
        if (State != MuxState.Idle) return;
        _lastReceived = now;
        State = MuxState.Negotiating;
        _out.Enqueue(OutFrame.Unpooled(HelloFrame.Create(_options.IsInitiator, _options.LocalSettings)));
        _negotiationDeadline = now + _options.NegotiationTimeout;
    }

    /// <summary>The next frame to send; the caller sends it, then calls <see cref="OutFrame.Release"/>.</summary>
    public bool TryPollFrame(out OutFrame frame) => _out.TryDequeue(out frame);

    /// <summary>The next frame as an exact-size array (tests).</summary>
    public bool TryPollMessage(out byte[] message)
    {
        if (!_out.TryDequeue(out var frame)) { message = null!; return false; }
        message = frame.ToArrayAndRelease();
        return true;
    }

    public bool TryPollEvent(out MuxEvent e) => _events.TryDequeue(out e);

    public void HandleDeadline(TimeSpan now)
    {
        if (State == MuxState.Open)
        {
            if (_options.IdleTimeout > TimeSpan.Zero && now >= _lastReceived + _options.IdleTimeout)
            {
                ConnectionError(PeerFetchErrorCode.Cancel, $"nothing from the peer for {_options.IdleTimeout.TotalSeconds:0.###} s");
                return;
            }
            if (_options.KeepAliveInterval > TimeSpan.Zero && !_keepAliveSent && now >= _lastReceived + _options.KeepAliveInterval)
            {
                _keepAliveSent = true;
                _out.Enqueue(OutFrame.Unpooled(PingFrame.Create(KeepAliveOpaque, ack: false)));
            }
            return;
        }
        if (_negotiationDeadline is { } d && now >= d && State == MuxState.Negotiating)
        {
            _negotiationDeadline = null;
            State = MuxState.Closed;
            _events.Enqueue(new MuxEvent(MuxEventType.NegotiationTimedOut, Message: "no HELLO from the peer"));
        }
    }

    /// <summary>Feeds one received channel message. Slices of <paramref name="message"/> appear in Data events.</summary>
    public void Receive(ReadOnlyMemory<byte> message, bool isText, TimeSpan now)
    {
        if (State == MuxState.Closed) return;
        _lastReceived = now;
        _keepAliveSent = false;
        if (isText)
        {
            if (State == MuxState.Negotiating && _options.IsInitiator)
            {
                State = MuxState.Closed;
                _negotiationDeadline = null;
                _events.Enqueue(new MuxEvent(MuxEventType.PeerIsV1, Message: "the peer answered HELLO with a v1 text message"));
                return;
            }
            ConnectionError(PeerFetchErrorCode.ProtocolError, "text message on a v2 channel");
            return;
        }
        var span = message.Span;
        int offset = 0;
        if (span.IsEmpty) { ConnectionError(PeerFetchErrorCode.FrameSizeError, "empty message"); return; }
        while (offset < span.Length && State != MuxState.Closed)
        {
            if (!FrameHeader.TryRead(span[offset..], out var header))
            {
                ConnectionError(PeerFetchErrorCode.FrameSizeError, "truncated frame (a frame must not span messages)");
                return;
            }
            var payload = message.Slice(offset + FrameHeader.Size, header.Length);
            offset += FrameHeader.Size + header.Length;
            OnFrame(header, payload);
        }
    }

    private void OnFrame(FrameHeader h, ReadOnlyMemory<byte> payload)
    {
        if (State == MuxState.Negotiating && h.Type != FrameType.Hello)
        {
            ConnectionError(PeerFetchErrorCode.ProtocolError, $"{h.Type} before HELLO");
            return;
        }
        switch (h.Type)
        {
            case FrameType.Hello: OnHello(h, payload.Span); break;
            case FrameType.Headers: OnHeaders(h, payload.Span); break;
            case FrameType.Data: OnData(h, payload); break;
            case FrameType.WindowUpdate: OnWindowUpdate(h, payload.Span); break;
            case FrameType.Reset: OnReset(h, payload.Span); break;
            case FrameType.Ping: OnPing(h, payload.Span); break;
            case FrameType.GoAway: OnGoAway(h, payload.Span); break;
            default: break; // unknown frame types are ignored (extensibility)
        }
    }

    private void OnHello(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (State != MuxState.Negotiating) { ConnectionError(PeerFetchErrorCode.ProtocolError, "second HELLO"); return; }
        if (!HelloFrame.TryRead(h, payload, out byte version, out bool initiator, out var settings))
        {
            ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed HELLO");
            return;
        }
        if (version != HelloFrame.Version) { ConnectionError(PeerFetchErrorCode.ProtocolError, $"unsupported version {version}"); return; }
        if (initiator == _options.IsInitiator) { ConnectionError(PeerFetchErrorCode.ProtocolError, "both ends claim the same role"); return; }
        _peer = settings;
        _channelSendWindow = settings.InitialChannelWindow;
        State = MuxState.Open;
        _negotiationDeadline = null;
        _events.Enqueue(new MuxEvent(MuxEventType.Negotiated));
    }

    private bool IsPeerId(uint id) => (id & 1) == (_options.IsInitiator ? 0u : 1u);

    private void OnHeaders(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (h.Length > _options.LocalSettings.MaxHeaderBlock) { ConnectionError(PeerFetchErrorCode.FrameSizeError, "header block above MaxHeaderBlock"); return; }
        if (!HeadersFrame.TryRead(h, payload, out var fields)) { ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed HEADERS"); return; }
        bool end = (h.Flags & FrameFlags.EndStream) != 0;
        if (_streams.TryGetValue(h.StreamId, out var s))
        {
            if (s.RemoteEnded) { ResetStream(s, PeerFetchErrorCode.StreamClosed, notify: true); return; }
            if (s.Phase == RecvPhase.Head)
            {
                if (s.Local && !HasPseudo(fields, ":status")) { ResetStream(s, PeerFetchErrorCode.ProtocolError, notify: true); return; }
                s.Phase = RecvPhase.Body;
            }
            else if (!end || fields.Exists(f => f.Key.StartsWith(':'))) { ResetStream(s, PeerFetchErrorCode.ProtocolError, notify: true); return; }
            if (end) s.RemoteEnded = true;
            _events.Enqueue(new MuxEvent(MuxEventType.Headers, h.StreamId, fields, EndStream: end));
            MaybeRetire(s);
            return;
        }
        if (!IsPeerId(h.StreamId) || h.StreamId <= _lastPeerId) return; // a stream that is already closed: ignore
        _lastPeerId = h.StreamId;
        if (_sentGoAway || _peerStreams >= _options.LocalSettings.MaxConcurrentStreams)
        {
            _out.Enqueue(OutFrame.Unpooled(ResetFrame.Create(h.StreamId, PeerFetchErrorCode.RefusedStream)));
            return;
        }
        if (!HasPseudo(fields, ":method") || !HasPseudo(fields, ":path"))
        {
            _out.Enqueue(OutFrame.Unpooled(ResetFrame.Create(h.StreamId, PeerFetchErrorCode.ProtocolError)));
            return;
        }
        var ns = new StreamState(h.StreamId, local: false, _peer.InitialStreamWindow, _options.LocalSettings.InitialStreamWindow) { Phase = RecvPhase.Body, RemoteEnded = end };
        _streams.Add(h.StreamId, ns);
        _peerStreams++;
        _events.Enqueue(new MuxEvent(MuxEventType.StreamOpened, h.StreamId, fields, EndStream: end));
    }

    private static bool HasPseudo(List<KeyValuePair<string, string>> fields, string name) => fields.Exists(f => f.Key == name);

    private void OnData(FrameHeader h, ReadOnlyMemory<byte> payload)
    {
        if (!DataFrame.TryRead(h, payload.Span, out var error)) { ConnectionError(error, "malformed DATA"); return; }
        if (h.Length > _options.LocalSettings.MaxFramePayload) { ConnectionError(PeerFetchErrorCode.FrameSizeError, "DATA above MaxFramePayload"); return; }
        if (h.Length > _channelRecvCredit) { ConnectionError(PeerFetchErrorCode.FlowControlError, "channel window exceeded"); return; }
        _channelRecvCredit -= h.Length;
        bool end = (h.Flags & FrameFlags.EndStream) != 0;
        if (!_streams.TryGetValue(h.StreamId, out var s))
        {
            if (!IsPeerId(h.StreamId) ? h.StreamId >= _nextLocalId : h.StreamId > _lastPeerId)
            {
                ConnectionError(PeerFetchErrorCode.ProtocolError, "DATA on a stream never opened");
                return;
            }
            ReturnChannelCredit(h.Length); // late data for a closed stream: nobody will consume it
            return;
        }
        if (s.Phase == RecvPhase.Head || s.RemoteEnded)
        {
            ReturnChannelCredit(h.Length);
            ResetStream(s, s.RemoteEnded ? PeerFetchErrorCode.StreamClosed : PeerFetchErrorCode.ProtocolError, notify: true);
            return;
        }
        if (h.Length > s.RecvCredit)
        {
            ReturnChannelCredit(h.Length);
            ResetStream(s, PeerFetchErrorCode.FlowControlError, notify: true);
            return;
        }
        s.RecvCredit -= h.Length;
        if (end) s.RemoteEnded = true;
        _events.Enqueue(new MuxEvent(MuxEventType.Data, h.StreamId, Data: payload, EndStream: end));
        MaybeRetire(s);
    }

    private void OnWindowUpdate(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (!WindowUpdateFrame.TryRead(payload, out uint inc)) { ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed WINDOW_UPDATE"); return; }
        if (h.StreamId == 0)
        {
            _channelSendWindow += inc;
            if (_channelSendWindow > int.MaxValue) { ConnectionError(PeerFetchErrorCode.FlowControlError, "channel window above 2^31-1"); return; }
            _events.Enqueue(new MuxEvent(MuxEventType.Credit, 0));
            return;
        }
        if (!_streams.TryGetValue(h.StreamId, out var s)) return;
        s.SendWindow += inc;
        if (s.SendWindow > int.MaxValue) { ResetStream(s, PeerFetchErrorCode.FlowControlError, notify: true); return; }
        _events.Enqueue(new MuxEvent(MuxEventType.Credit, h.StreamId));
    }

    private void OnReset(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (!ResetFrame.TryRead(h, payload, out var code)) { ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed RESET"); return; }
        if (!_streams.TryGetValue(h.StreamId, out var s)) return;
        Remove(s);
        _events.Enqueue(new MuxEvent(MuxEventType.StreamReset, h.StreamId, Code: code));
    }

    private void OnPing(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (!PingFrame.TryRead(h, payload, out ulong opaque)) { ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed PING"); return; }
        if ((h.Flags & FrameFlags.EndStream) != 0) { if (opaque != KeepAliveOpaque) _events.Enqueue(new MuxEvent(MuxEventType.PingAck, Opaque: opaque)); }
        else if (_out.Count < 1024) _out.Enqueue(OutFrame.Unpooled(PingFrame.Create(opaque, ack: true))); // a flood is answered only while we keep up
    }

    private void OnGoAway(FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (!GoAwayFrame.TryRead(h, payload, out uint last, out var code, out string debug)) { ConnectionError(PeerFetchErrorCode.ProtocolError, "malformed GOAWAY"); return; }
        _peerGoAway = true;
        foreach (var s in _streams.Values.Where(s => s.Local && s.Id > last).ToList())
        {
            Remove(s);
            _events.Enqueue(new MuxEvent(MuxEventType.StreamReset, s.Id, Code: PeerFetchErrorCode.RefusedStream, Message: "refused by GOAWAY"));
        }
        _events.Enqueue(new MuxEvent(MuxEventType.GoAway, last, Code: code, Message: debug));
    }

    // ------------------------------------------------------------------ commands

    /// <summary>Opens a stream with a request head; returns its id.</summary>
    public uint OpenStream(IReadOnlyList<KeyValuePair<string, string>> headers, bool endStream)
    {
        if (State != MuxState.Open) throw new PeerFetchException(PeerFetchError.ChannelClosed, $"channel is {State}");
        if (_peerGoAway || _sentGoAway) throw new PeerFetchException(PeerFetchError.GoingAway, "GOAWAY: no new streams");
        if (_localStreams >= _peer.MaxConcurrentStreams) throw new PeerFetchException(PeerFetchError.LimitExceeded, "peer's MaxConcurrentStreams reached");
        if (_nextLocalId > int.MaxValue) throw new PeerFetchException(PeerFetchError.LimitExceeded, "stream ids exhausted");
        uint id = _nextLocalId;
        var frame = HeadersFrame.Create(id, headers, endStream);
        CheckHeaderSize(frame);
        _nextLocalId += 2;
        var s = new StreamState(id, local: true, _peer.InitialStreamWindow, _options.LocalSettings.InitialStreamWindow) { LocalEnded = endStream };
        _streams.Add(id, s);
        _localStreams++;
        _out.Enqueue(OutFrame.Unpooled(frame));
        return id;
    }

    /// <summary>Sends a response head (on a peer stream) or trailers (always with END_STREAM).</summary>
    public void SendHeaders(uint id, IReadOnlyList<KeyValuePair<string, string>> headers, bool endStream)
    {
        if (!_streams.TryGetValue(id, out var s) || s.LocalEnded) throw new PeerFetchException(PeerFetchError.StreamReset, $"stream {id} is closed");
        var frame = HeadersFrame.Create(id, headers, endStream);
        CheckHeaderSize(frame);
        _out.Enqueue(OutFrame.Unpooled(frame));
        s.HeadSent = true;
        if (endStream) { s.LocalEnded = true; MaybeRetire(s); }
    }

    private void CheckHeaderSize(byte[] frame)
    {
        int length = frame.Length - FrameHeader.Size;
        if (length > _peer.MaxHeaderBlock || (_options.MaxMessageSize > 0 && frame.Length > _options.MaxMessageSize))
            throw new PeerFetchException(PeerFetchError.LimitExceeded, $"header block of {length} bytes exceeds the peer's limits");
    }

    /// <summary>Credit available for DATA on a stream now.</summary>
    public long SendCredit(uint id) => _streams.TryGetValue(id, out var s) && !s.LocalEnded ? Math.Min(s.SendWindow, _channelSendWindow) : -1;

    /// <summary>Queues as much of <paramref name="data"/> as credit allows; END_STREAM only goes out once all of it did.</summary>
    /// <returns>Bytes taken; -1 if the stream is gone (reset or closed).</returns>
    public int SendData(uint id, ReadOnlySpan<byte> data, bool endStream)
    {
        if (!_streams.TryGetValue(id, out var s) || s.LocalEnded) return -1;
        int allowed = (int)Math.Min(data.Length, Math.Min(s.SendWindow, _channelSendWindow));
        int max = MaxSendPayload;
        int sent = 0;
        while (sent < allowed)
        {
            int n = Math.Min(max, allowed - sent);
            bool last = endStream && sent + n == data.Length;
            _out.Enqueue(DataFrame.CreatePooled(id, data.Slice(sent, n), last));
            sent += n;
        }
        s.SendWindow -= sent;
        _channelSendWindow -= sent;
        if (endStream && sent == data.Length)
        {
            if (data.IsEmpty) _out.Enqueue(DataFrame.CreatePooled(id, default, endStream: true));
            s.LocalEnded = true;
            MaybeRetire(s);
        }
        return sent;
    }

    /// <summary>The application consumed <paramref name="bytes"/> of received DATA: give the credit back.</summary>
    public void Consume(uint id, int bytes)
    {
        if (bytes <= 0) return;
        ReturnChannelCredit(bytes);
        if (_streams.TryGetValue(id, out var s) && !s.RemoteEnded)
        {
            s.Unacked += bytes;
            if (s.Unacked >= _options.LocalSettings.InitialStreamWindow / 2)
            {
                _out.Enqueue(WindowUpdateFrame.CreatePooled(id, (uint)s.Unacked));
                s.RecvCredit += s.Unacked;
                s.Unacked = 0;
            }
        }
    }

    private void ReturnChannelCredit(int bytes)
    {
        _channelUnacked += bytes;
        if (_channelUnacked >= _options.LocalSettings.InitialChannelWindow / 4 && State == MuxState.Open)
        {
            _out.Enqueue(WindowUpdateFrame.CreatePooled(0, (uint)_channelUnacked));
            _channelRecvCredit += _channelUnacked;
            _channelUnacked = 0;
        }
    }

    /// <summary>Aborts a stream both ways (RST-like). No-op when it is already gone.</summary>
    public void Reset(uint id, PeerFetchErrorCode code)
    {
        if (_streams.TryGetValue(id, out var s)) ResetStream(s, code, notify: false);
    }

    /// <summary>Sends GOAWAY: no new peer streams are accepted; open ones finish.</summary>
    public void GoAway(PeerFetchErrorCode code, string debug)
    {
        if (State != MuxState.Open || _sentGoAway) return;
        _sentGoAway = true;
        _out.Enqueue(OutFrame.Unpooled(GoAwayFrame.Create(_lastPeerId, code, debug)));
    }

    /// <summary>Sends a PING; the answer comes as a <see cref="MuxEventType.PingAck"/> event.</summary>
    public void Ping(ulong opaque)
    {
        if (State == MuxState.Open) _out.Enqueue(OutFrame.Unpooled(PingFrame.Create(opaque, ack: false)));
    }

    // ------------------------------------------------------------------ helpers

    private void ResetStream(StreamState s, PeerFetchErrorCode code, bool notify)
    {
        _out.Enqueue(OutFrame.Unpooled(ResetFrame.Create(s.Id, code)));
        Remove(s);
        if (notify) _events.Enqueue(new MuxEvent(MuxEventType.StreamReset, s.Id, Code: code, Message: "reset locally: " + code));
    }

    private void MaybeRetire(StreamState s)
    {
        if (s.LocalEnded && s.RemoteEnded) Remove(s);
    }

    private void Remove(StreamState s)
    {
        if (!_streams.Remove(s.Id)) return;
        if (s.Local) _localStreams--; else _peerStreams--;
    }

    private void ConnectionError(PeerFetchErrorCode code, string reason)
    {
        if (State == MuxState.Closed) return;
        if (State == MuxState.Open) _out.Enqueue(OutFrame.Unpooled(GoAwayFrame.Create(_lastPeerId, code, reason)));
        State = MuxState.Closed;
        _negotiationDeadline = null;
        foreach (var s in _streams.Values) _events.Enqueue(new MuxEvent(MuxEventType.StreamReset, s.Id, Code: code, Message: reason));
        _streams.Clear();
        _localStreams = _peerStreams = 0;
        _events.Enqueue(new MuxEvent(MuxEventType.ConnectionError, Code: code, Message: reason));
    }

    /// <summary>The channel closed underneath: every stream fails.</summary>
    public void ChannelClosed()
    {
        if (State == MuxState.Closed) return;
        State = MuxState.Closed;
        _negotiationDeadline = null;
        foreach (var s in _streams.Values) _events.Enqueue(new MuxEvent(MuxEventType.StreamReset, s.Id, Code: PeerFetchErrorCode.Cancel, Message: "channel closed"));
        _streams.Clear();
        _localStreams = _peerStreams = 0;
        _events.Enqueue(new MuxEvent(MuxEventType.ConnectionError, Code: PeerFetchErrorCode.NoError, Message: "channel closed"));
    }

    private enum RecvPhase { Head, Body }

    private sealed class StreamState(uint id, bool local, long sendWindow, int recvWindow)
    {
        public uint Id { get; } = id;
        public bool Local { get; } = local;
        public long SendWindow { get; set; } = sendWindow;
        public long RecvCredit { get; set; } = recvWindow;
        public int Unacked { get; set; }
        public bool LocalEnded { get; set; }
        public bool RemoteEnded { get; set; }
        public bool HeadSent { get; set; }
        public RecvPhase Phase { get; set; }
    }
}
