using System.Text;
using OspBridge.Net.Channels;
using OspBridge.Net.Core;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.DataChannels;

/// <summary>
/// Sans-IO WebRTC data channels (RFC 8831) with DCEP (RFC 8832) on top of one <see cref="SctpAssociation"/>.
/// <para>
/// It is an <see cref="IProtocolCore{TEvent}"/>: drive it exactly like the association (same loop, same <c>now</c>):
/// <see cref="Receive(Span{byte}, DatagramPath, TimeSpan)"/> with every decrypted DTLS record, <see cref="TryPollTransmit"/>
/// until false after every call, <see cref="HandleDeadline"/> at <see cref="NextDeadline"/>, and <see cref="TryPollEvent"/> until false. Events are pulled lazily from the association,
/// so an application that stops reading events exerts back-pressure through the SCTP receive window.
/// </para>
/// <para>
/// Channel ids are SCTP stream ids: the DTLS client uses even ids, the DTLS server odd ones (RFC 8832 §6);
/// negotiated channels use the id the application picks. A channel is closed by resetting its outgoing stream; the peer
/// resets its own, and <see cref="DataChannelEventKind.ChannelClosed"/> fires on both sides once both are reset.
/// </para>
/// </summary>
public sealed class DataChannelEndpoint : IProtocolCore<DataChannelEvent>
{
    private sealed class Channel
    {
        public required string Label;
        public required DataChannelOptions Options;
        public MessageChannelState State;
        public bool IsRemote;
        public bool OpenPending;       // waiting for the association to send DCEP OPEN / become usable
        public bool AwaitingAck;       // our OPEN is unanswered: send ordered (RFC 8832 §6)
        public bool OutgoingReset;
        public bool IncomingReset;
        public bool ResetRequested;
        public MemoryStream? Partial;  // legacy PPID 52/54 fragments
    }

    private readonly SctpAssociation _sctp;
    private readonly Dictionary<ushort, Channel> _channels = new();
    private readonly Queue<DataChannelEvent> _events = new();
    private TimeSpan _now;
    private bool _disconnected;

    /// <summary>Creates an endpoint and its association with <paramref name="options"/>.</summary>
    public DataChannelEndpoint(SctpOptions options)
    {
        _sctp = new SctpAssociation(options);
    }

    /// <summary>The underlying association (state, statistics, tuning).</summary>
    public SctpAssociation Association => _sctp;

    /// <summary>True once the association is established (and until it ends).</summary>
    public bool IsConnected => _sctp.State is SctpState.Established && !_disconnected;

    /// <summary>Largest message we may send (the peer's max-message-size).</summary>
    public int MaxMessageSize => _sctp.Options.RemoteMaxMessageSize;

    /// <summary>See <see cref="SctpAssociation.NextDeadline"/>.</summary>
    public TimeSpan? NextDeadline => _sctp.NextDeadline;

    /// <summary>Sends INIT (see <see cref="SctpAssociation.Connect"/>; in WebRTC both sides may call it).</summary>
    public void Connect(TimeSpan now)
    {
        _now = now;
        _sctp.Connect(now);
    }

    /// <summary>Feeds one decrypted DTLS application-data record (read only; <paramref name="path"/> is ignored).</summary>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now) => Receive((ReadOnlySpan<byte>)datagram, now);

    /// <summary>Feeds one decrypted DTLS application-data record held in read-only memory.</summary>
    public void Receive(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        _now = now;
        _sctp.Receive(packet, now);
    }

    /// <summary>Builds the next packet for DTLS; see <see cref="SctpAssociation.TryPollTransmit"/>.</summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        _now = now;
        PumpSctpEvents(untilEventAvailable: false, messagesToo: false);
        return _sctp.TryPollTransmit(destination, now, out transmit);
    }

    /// <summary>Runs due timers.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        _now = now;
        _sctp.HandleDeadline(now);
    }

    /// <summary>Takes the next event; false when none is pending.</summary>
    public bool TryPollEvent(out DataChannelEvent ev)
    {
        if (_events.Count == 0)
        {
            PumpSctpEvents(untilEventAvailable: true, messagesToo: true);
        }
        if (_events.Count == 0)
        {
            // Coalesced: one event per channel whose buffered amount fell since it was last reported.
            while (_sctp.TryTakeBufferedAmountChange(out ushort id, out long amount))
            {
                if (_channels.ContainsKey(id))
                {
                    _events.Enqueue(new DataChannelEvent(DataChannelEventKind.BufferedAmountChanged, id, BufferedAmount: amount));
                }
            }
        }
        return _events.TryDequeue(out ev);
    }

    /// <summary>
    /// Opens a channel and returns its id. In-band channels get the lowest free id of our parity and send
    /// DATA_CHANNEL_OPEN; negotiated ones (<see cref="DataChannelOptions.Negotiated"/>) use <see cref="DataChannelOptions.Id"/>.
    /// Before the association is up the channel waits; <see cref="DataChannelEventKind.ChannelOpened"/> reports when it is usable.
    /// </summary>
    public ushort OpenChannel(string label, DataChannelOptions options, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(label);
        ArgumentNullException.ThrowIfNull(options);
        _now = now;
        if (_disconnected || _sctp.State > SctpState.Established)
        {
            throw new WebRtcException(WebRtcError.InvalidState, "The association is closed or closing.");
        }
        if (options.MaxRetransmits is not null && options.MaxPacketLifeTime is not null)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "MaxRetransmits and MaxPacketLifeTime are exclusive.");
        }
        if (Encoding.UTF8.GetByteCount(label) > ushort.MaxValue || Encoding.UTF8.GetByteCount(options.Protocol) > ushort.MaxValue)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "Label and protocol are limited to 65535 UTF-8 bytes.");
        }
        ushort id;
        if (options.Negotiated)
        {
            if (options.Id is not { } chosen)
            {
                throw new WebRtcException(WebRtcError.InvalidArgument, "A negotiated channel needs an Id.");
            }
            if (chosen >= StreamLimit || _channels.ContainsKey(chosen))
            {
                throw new WebRtcException(WebRtcError.InvalidArgument, $"Channel id {chosen} is out of range or in use.");
            }
            id = chosen;
        }
        else
        {
            if (options.Id is not null)
            {
                throw new WebRtcException(WebRtcError.InvalidArgument, "Id is only for negotiated channels.");
            }
            id = AllocateId();
        }
        var ch = new Channel { Label = label, Options = options with { Id = id }, State = MessageChannelState.Connecting, OpenPending = true };
        _channels[id] = ch;
        if (_sctp.State == SctpState.Established)
        {
            StartChannel(id, ch);
        }
        return id;
    }

    private int StreamLimit => _sctp.State >= SctpState.Established ? _sctp.OutboundStreamCount : _sctp.Options.OutboundStreams;

    private ushort AllocateId()
    {
        int limit = StreamLimit;
        for (int i = _sctp.Options.IsDtlsClient ? 0 : 1; i < limit; i += 2)
        {
            if (!_channels.ContainsKey((ushort)i))
            {
                return (ushort)i;
            }
        }
        throw new WebRtcException(WebRtcError.NoStreamAvailable, "No free data channel id.");
    }

    private void StartChannel(ushort id, Channel ch)
    {
        ch.OpenPending = false;
        if (id >= _sctp.OutboundStreamCount)
        {
            _channels.Remove(id);
            _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelError, id, Error: WebRtcError.NoStreamAvailable,
                Reason: $"id {id} is beyond the {_sctp.OutboundStreamCount} negotiated streams"));
            _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelClosed, id));
            return;
        }
        if (!ch.Options.Negotiated)
        {
            var open = new DcepOpenMessage(ch.Options.ChannelType, ch.Options.Priority, ch.Options.ReliabilityParameter, ch.Label, ch.Options.Protocol);
            _sctp.Send(id, DataChannelPpid.Dcep, open.ToArray(), SctpSendOptions.Reliable, _now, countsAsBuffered: false);
            ch.AwaitingAck = true;
        }
        ch.State = MessageChannelState.Open;
        _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelOpened, id, ch.Label, ch.Options, IsRemote: false));
    }

    /// <summary>State of channel <paramref name="id"/> (<see cref="MessageChannelState.Closed"/> for unknown ids).</summary>
    public MessageChannelState GetState(ushort id) => _channels.TryGetValue(id, out var c) ? c.State : MessageChannelState.Closed;

    /// <summary>Ids of the channels that are not closed.</summary>
    public IReadOnlyCollection<ushort> ChannelIds => _channels.Keys;

    /// <summary>
    /// Bytes of user messages queued on the channel and not yet sent (RTCDataChannel.bufferedAmount: DCEP control
    /// messages and empty messages count 0). Decreases are also reported as
    /// <see cref="DataChannelEventKind.BufferedAmountChanged"/> events, so a driver can keep a cached value without polling.
    /// </summary>
    public long GetBufferedAmount(ushort id) => _sctp.GetBufferedAmount(id);

    /// <summary>
    /// Sets RTCDataChannel.bufferedAmountLowThreshold for channel <paramref name="id"/>: when its buffered amount falls from
    /// above the threshold to at or below it, a <see cref="DataChannelEventKind.BufferedAmountLow"/> event is queued (await it
    /// instead of polling <see cref="GetBufferedAmount"/>).
    /// </summary>
    public void SetBufferedAmountLowThreshold(ushort id, long threshold) => _sctp.SetBufferedAmountLowThreshold(id, threshold);

    /// <summary>
    /// Sends one message (PPID 51/53; an empty message goes as PPID 56/57 with one ignored byte). Throws
    /// <see cref="WebRtcException"/>: <see cref="WebRtcError.InvalidState"/> unless the channel is open,
    /// <see cref="WebRtcError.MessageTooLarge"/> above the peer's max-message-size, <see cref="WebRtcError.SendBufferFull"/>.
    /// </summary>
    public void Send(ushort id, ReadOnlySpan<byte> payload, bool isText, TimeSpan now)
    {
        _now = now;
        if (!_channels.TryGetValue(id, out var ch) || ch.State != MessageChannelState.Open)
        {
            throw new WebRtcException(WebRtcError.InvalidState, $"Channel {id} is not open.");
        }
        var o = ch.Options;
        var send = new SctpSendOptions
        {
            Ordered = o.Ordered || ch.AwaitingAck,
            MaxRetransmits = o.MaxRetransmits,
            MaxLifetime = o.MaxPacketLifeTime,
        };
        if (payload.IsEmpty)
        {
            _sctp.Send(id, isText ? DataChannelPpid.StringEmpty : DataChannelPpid.BinaryEmpty, [0], send, now, countsAsBuffered: false);
        }
        else
        {
            _sctp.Send(id, isText ? DataChannelPpid.String : DataChannelPpid.Binary, payload, send, now);
        }
    }

    /// <summary>Closes channel <paramref name="id"/>: queued messages are sent, then its outgoing stream is reset (RFC 8831 §6.7).</summary>
    public void CloseChannel(ushort id, TimeSpan now)
    {
        _now = now;
        if (!_channels.TryGetValue(id, out var ch) || ch.State is MessageChannelState.Closing or MessageChannelState.Closed)
        {
            return;
        }
        ch.State = MessageChannelState.Closing;
        if (ch.OpenPending || _sctp.State != SctpState.Established)
        {
            FinishClose(id);
            return;
        }
        RequestReset(id, ch);
    }

    private void RequestReset(ushort id, Channel ch)
    {
        if (ch.ResetRequested)
        {
            return;
        }
        ch.ResetRequested = true;
        if (_sctp.PeerSupportsStreamReset)
        {
            _sctp.ResetOutgoingStreams([id]);
        }
        else
        {
            FinishClose(id); // no RE-CONFIG: the best we can do is forget the channel
        }
    }

    private void FinishClose(ushort id)
    {
        if (_channels.Remove(id))
        {
            _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelClosed, id));
        }
    }

    /// <summary>Starts a graceful SCTP shutdown (closes every channel).</summary>
    public void Shutdown(TimeSpan now)
    {
        _now = now;
        _sctp.Shutdown(now);
    }

    /// <summary>Aborts the association at once.</summary>
    public void Abort() => _sctp.Abort();

    private void PumpSctpEvents(bool untilEventAvailable, bool messagesToo)
    {
        // Without messagesToo only control events are handled (so DCEP ACKs and resets progress even when the
        // application is slow), stopping at the first message to keep the receive window as back-pressure.
        for (int guard = 0; guard < 100_000; guard++)
        {
            if (untilEventAvailable && _events.Count > 0)
            {
                return;
            }
            if (!messagesToo && _sctp.PendingEventCount > 0 && PeekIsMessage())
            {
                return;
            }
            if (!_sctp.TryPollEvent(out var e))
            {
                return;
            }
            Translate(e);
        }
    }

    private bool PeekIsMessage() => _sctp.PeekEventKind() == SctpEventKind.MessageReceived;

    private void Translate(in SctpEvent e)
    {
        switch (e.Kind)
        {
            case SctpEventKind.Connected:
                _events.Enqueue(new DataChannelEvent(DataChannelEventKind.Connected));
                foreach (var id in _channels.Keys.Order().ToArray())
                {
                    if (_channels.TryGetValue(id, out var ch) && ch.OpenPending)
                    {
                        StartChannel(id, ch);
                    }
                }
                break;
            case SctpEventKind.MessageReceived:
                OnMessage(e.StreamId, e.Ppid, e.Data!);
                break;
            case SctpEventKind.IncomingStreamReset:
                if (_channels.TryGetValue(e.StreamId, out var closing))
                {
                    closing.IncomingReset = true;
                    closing.Partial = null;
                    if (closing.State != MessageChannelState.Closing)
                    {
                        closing.State = MessageChannelState.Closing;
                    }
                    RequestReset(e.StreamId, closing); // answer the peer's close with ours
                    if (closing.OutgoingReset)
                    {
                        FinishClose(e.StreamId);
                    }
                }
                else if (e.StreamId < _sctp.OutboundStreamCount && _sctp.State == SctpState.Established && _sctp.PeerSupportsStreamReset
                    && !_sctp.IsOutgoingResetPending(e.StreamId))
                {
                    _sctp.ResetOutgoingStreams([e.StreamId]); // a channel we do not know: still complete the peer's close
                }
                break;
            case SctpEventKind.OutgoingStreamReset:
                if (_channels.TryGetValue(e.StreamId, out var ours))
                {
                    ours.OutgoingReset = true;
                    if (ours.IncomingReset)
                    {
                        FinishClose(e.StreamId);
                    }
                }
                break;
            case SctpEventKind.BufferedAmountLow:
                if (_channels.ContainsKey(e.StreamId))
                {
                    _events.Enqueue(new DataChannelEvent(DataChannelEventKind.BufferedAmountLow, e.StreamId, BufferedAmount: _sctp.GetBufferedAmount(e.StreamId)));
                }
                break;
            case SctpEventKind.MessageTooLarge:
                if (_channels.TryGetValue(e.StreamId, out var big))
                {
                    _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelError, e.StreamId, Error: WebRtcError.MessageTooLarge,
                        Reason: "the peer sent a message above our max-message-size"));
                    if (big.State == MessageChannelState.Open)
                    {
                        big.State = MessageChannelState.Closing;
                        RequestReset(e.StreamId, big);
                    }
                }
                break;
            case SctpEventKind.Closed:
            case SctpEventKind.Aborted:
                _disconnected = true;
                foreach (var id in _channels.Keys.Order().ToArray())
                {
                    FinishClose(id);
                }
                _events.Enqueue(new DataChannelEvent(DataChannelEventKind.Disconnected,
                    Error: e.Kind == SctpEventKind.Closed ? WebRtcError.Closed : e.Error, Reason: e.Reason));
                break;
        }
    }

    private void OnMessage(ushort id, uint ppid, byte[] data)
    {
        if (ppid == DataChannelPpid.Dcep)
        {
            OnDcep(id, data);
            return;
        }
        if (!_channels.TryGetValue(id, out var ch) || ch.State != MessageChannelState.Open)
        {
            return; // no channel (or closing): drop
        }
        ch.AwaitingAck = false; // user data from the peer implies it saw our OPEN
        switch (ppid)
        {
            case DataChannelPpid.String:
            case DataChannelPpid.Binary:
                bool text = ppid == DataChannelPpid.String;
                if (ch.Partial is { } part)
                {
                    if (part.Length + data.Length > _sctp.Options.MaxMessageSize)
                    {
                        ch.Partial = null;
                        return;
                    }
                    part.Write(data);
                    data = part.ToArray();
                    ch.Partial = null;
                }
                _events.Enqueue(new DataChannelEvent(DataChannelEventKind.MessageReceived, id, IsText: text, Payload: data));
                break;
            case DataChannelPpid.StringEmpty:
            case DataChannelPpid.BinaryEmpty:
                _events.Enqueue(new DataChannelEvent(DataChannelEventKind.MessageReceived, id, IsText: ppid == DataChannelPpid.StringEmpty, Payload: []));
                break;
            case DataChannelPpid.StringPartial:
            case DataChannelPpid.BinaryPartial:
                ch.Partial ??= new MemoryStream();
                if (ch.Partial.Length + data.Length > _sctp.Options.MaxMessageSize)
                {
                    ch.Partial = null; // too large: drop the whole legacy message
                    return;
                }
                ch.Partial.Write(data);
                break;
        }
    }

    private void OnDcep(ushort id, byte[] data)
    {
        if (DcepAckMessage.IsAck(data))
        {
            if (_channels.TryGetValue(id, out var c))
            {
                c.AwaitingAck = false;
            }
            return;
        }
        if (!DcepOpenMessage.TryParse(data, out var open))
        {
            return;
        }
        bool peerParity = (id % 2 == 0) != _sctp.Options.IsDtlsClient;
        if (_channels.ContainsKey(id) || !peerParity || _sctp.State != SctpState.Established)
        {
            return; // id collision or wrong parity (RFC 8832 §6): ignore the OPEN
        }
        var options = DataChannelOptions.FromOpen(open, id);
        var ch = new Channel { Label = open.Label, Options = options, State = MessageChannelState.Open, IsRemote = true };
        _channels[id] = ch;
        _sctp.Send(id, DataChannelPpid.Dcep, DcepAckMessage.Bytes, SctpSendOptions.Reliable, _now, countsAsBuffered: false);
        _events.Enqueue(new DataChannelEvent(DataChannelEventKind.ChannelOpened, id, open.Label, options, IsRemote: true));
    }
}
