using System.Text;
using System.Threading.Channels;
using OspBridge.Net.Channels;

namespace OspBridge.WebRtc;

/// <summary>
/// A data channel shaped like the W3C <c>RTCDataChannel</c> and usable as an <see cref="IMessageChannel"/>.
/// </summary>
/// <remarks>
/// <para><b>One message-delivery model, one consumer.</b> Received messages go to exactly one consumer, chosen by the
/// application the first time it asks:</para>
/// <list type="bullet">
/// <item><see cref="OnMessage"/> (as in W3C): subscribing makes the event the consumer; messages that arrived before
/// the first subscription are delivered to it first, in order.</item>
/// <item><see cref="ReceiveAsync"/> (the <see cref="IMessageChannel"/> pull path): the first call makes the reader the
/// consumer.</item>
/// </list>
/// <para>Using the other one afterwards throws <see cref="WebRtcException"/> (<see cref="WebRtcError.InvalidState"/>)
/// instead of silently starving one of them.</para>
/// <para><b>Back-pressure.</b> A message that is not consumed at once — the reader has not called
/// <see cref="ReceiveAsync"/> yet, or no consumer is chosen yet — waits in the channel's queue, and its bytes (at least
/// 512 per message) keep the connection's advertised SCTP receive window (1 MiB, all channels of the connection) closed
/// until it is read (RFC 9260 §6.2). A reader that stops reading therefore stops the peer's sender at that window; it
/// resumes when the reader reads again. So an echo or relay can simply stop calling <see cref="ReceiveAsync"/> while its
/// own <see cref="BufferedAmount"/> is high. The window is shared: a stalled reader on one channel stalls every channel of
/// the connection. An <see cref="OnMessage"/> handler consumes each message when it returns (like W3C's onmessage,
/// without a queue of its own). The queue is still capped (4096 messages / 16 MiB): past that the channel reports
/// <see cref="WebRtcError.LimitExceeded"/> through <see cref="OnError"/> and closes — messages already queued stay
/// readable, nothing is dropped silently.</para>
/// <para>Every event (<see cref="OnOpen"/>, <see cref="OnMessage"/>, <see cref="OnClose"/>, <see cref="OnError"/>,
/// <see cref="OnBufferedAmountLow"/>) runs off the peer connection's loop, one handler at a time per connection, in order
/// (see <see cref="RTCPeerConnection"/>); calling <see cref="Send(string)"/> from a handler is fine. A message handed to
/// <see cref="OnMessage"/> stays charged against the SCTP receive window until its handler returned, so a slow handler
/// slows the peer's sender instead of queueing without bound.</para>
/// </remarks>
public sealed class RTCDataChannel : IMessageChannel
{
    private const int MaxQueuedMessages = 4096;
    private const long MaxQueuedBytes = 16L << 20;
    private const long SendAsyncHighWater = 1 << 20;
    private const int ModeNone = 0, ModeEvent = 1, ModeReader = 2;

    private readonly RTCPeerConnection _pc;
    private readonly Channel<ChannelMessage> _received = Channel.CreateBounded<ChannelMessage>(new BoundedChannelOptions(MaxQueuedMessages) { FullMode = BoundedChannelFullMode.Wait, SingleReader = false });
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _waiterGate = new();
    private TaskCompletionSource? _drained;
    private Action<ChannelMessage>? _onMessage;
    private int _mode;
    private long _queuedBytes;
    private long _heldCharge;   // on the loop: window bytes charged for queued messages (HoldReceived), not yet released
    private long _toRelease;    // window bytes consumed off the loop, waiting for the loop to release them
    private const int MinReceiveCharge = 512;
    private long _coreBuffered;
    private long _postedBytes;
    private long _lowThreshold;
    private long _maxMessageSize = 65536;
    private volatile RTCDataChannelState _state = RTCDataChannelState.Connecting;

    internal RTCDataChannel(RTCPeerConnection pc, string label, RTCDataChannelInit init)
    {
        _pc = pc;
        Label = label;
        Ordered = init.Ordered;
        MaxRetransmits = init.MaxRetransmits;
        MaxPacketLifeTime = init.MaxPacketLifeTime;
        Protocol = init.Protocol;
        Negotiated = init.Negotiated;
        Id = init.Id;
    }

    /// <summary>The label.</summary>
    public string Label { get; }
    /// <summary>Ordered delivery.</summary>
    public bool Ordered { get; }
    /// <summary>Retransmission limit, or null.</summary>
    public int? MaxRetransmits { get; }
    /// <summary>Lifetime limit in ms, or null.</summary>
    public int? MaxPacketLifeTime { get; }
    /// <summary>Sub-protocol.</summary>
    public string Protocol { get; }
    /// <summary>Negotiated out of band.</summary>
    public bool Negotiated { get; }
    /// <summary>SCTP stream id, once assigned.</summary>
    public ushort? Id { get; private set; }
    /// <summary>W3C <c>readyState</c>.</summary>
    public RTCDataChannelState ReadyState => _state;
    /// <summary>The peer's max-message-size.</summary>
    public long MaxMessageSize => Interlocked.Read(ref _maxMessageSize);
    /// <summary>Bytes queued and not yet sent (W3C <c>bufferedAmount</c>).</summary>
    public long BufferedAmount => Interlocked.Read(ref _coreBuffered) + Interlocked.Read(ref _postedBytes);
    /// <summary>W3C <c>bufferedAmountLowThreshold</c>: <see cref="OnBufferedAmountLow"/> fires when <see cref="BufferedAmount"/> falls to or below it.</summary>
    public long BufferedAmountLowThreshold
    {
        get => Interlocked.Read(ref _lowThreshold);
        set { Interlocked.Exchange(ref _lowThreshold, value); _pc.SetLowThreshold(this, value); }
    }

    /// <summary>Messages waiting for a consumer (tests, diagnostics).</summary>
    internal int QueuedMessages => _received.Reader.Count;

    MessageChannelState IMessageChannel.State => (MessageChannelState)(int)_state;

    /// <summary>The channel opened.</summary>
    public event Action? OnOpen;

    /// <summary>
    /// A message arrived. Subscribing makes this event the channel's only consumer (see the remarks on the type): after
    /// it, <see cref="ReceiveAsync"/> throws; subscribing after <see cref="ReceiveAsync"/> was used throws.
    /// </summary>
    public event Action<ChannelMessage>? OnMessage
    {
        add
        {
            if (value is null) return;
            if (Interlocked.CompareExchange(ref _mode, ModeEvent, ModeNone) == ModeReader)
                throw new WebRtcException(WebRtcError.InvalidState, $"channel '{Label}': messages are already consumed with ReceiveAsync; use one delivery model");
            lock (_waiterGate) _onMessage += value;
            _pc.PostToLoop(_ => FlushQueuedToHandler());
        }
        remove
        {
            lock (_waiterGate) _onMessage -= value;
        }
    }

    /// <summary>The channel closed.</summary>
    public event Action? OnClose;
    /// <summary>An error (e.g. the peer's message was too large, or the reader stopped reading).</summary>
    public event Action<WebRtcException>? OnError;
    /// <summary>W3C <c>onbufferedamountlow</c>: <see cref="BufferedAmount"/> fell to or below <see cref="BufferedAmountLowThreshold"/>.</summary>
    public event Action? OnBufferedAmountLow;

    /// <summary>Completes when the channel is open (faults if it closes first).</summary>
    public Task WaitOpenAsync(CancellationToken cancellationToken = default) => _opened.Task.WaitAsync(cancellationToken);

    /// <summary>Sends a text message.</summary>
    public void Send(string text) => Send(Encoding.UTF8.GetBytes(text), isText: true);

    /// <summary>Sends a binary message.</summary>
    public void Send(ReadOnlyMemory<byte> data) => Send(data, isText: false);

    /// <summary>
    /// Sends one message; throws <see cref="WebRtcException"/> when not open (<see cref="WebRtcError.InvalidState"/>),
    /// larger than the peer's max-message-size (<see cref="WebRtcError.MessageTooLarge"/>), or when the connection's send
    /// buffer (16 MiB queued or unacknowledged, all channels) has no room for it (<see cref="WebRtcError.SendBufferFull"/>,
    /// W3C's OperationError): the message is then not sent, and the caller may retry after
    /// <see cref="OnBufferedAmountLow"/>. A message this method accepted is never dropped while the channel stays open.
    /// </summary>
    public void Send(ReadOnlyMemory<byte> data, bool isText)
    {
        if (_state != RTCDataChannelState.Open) throw new WebRtcException(WebRtcError.InvalidState, $"channel '{Label}' is {_state}");
        if (data.Length > MaxMessageSize) throw new WebRtcException(WebRtcError.MessageTooLarge, $"{data.Length} bytes exceed the peer's max-message-size {MaxMessageSize}");
        _pc.SendFromChannel(this, data, isText);
    }

    /// <summary>
    /// Sends one message, first waiting (without polling) while more than 1 MiB is buffered: the wait ends when the
    /// connection reports that the buffered amount fell, or when the channel closes.
    /// </summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default)
    {
        while (BufferedAmount > SendAsyncHighWater && _state == RTCDataChannelState.Open)
        {
            Task wait;
            lock (_waiterGate)
            {
                _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _drained.Task;
            }
            if (BufferedAmount <= SendAsyncHighWater || _state != RTCDataChannelState.Open) break;
            Interlocked.Increment(ref _sendAsyncWaits);
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        Send(data, isText);
    }

    /// <summary>
    /// Receives the next message; null once the channel is closed and every queued message was read. The first call
    /// makes the reader the channel's only consumer (see the remarks on the type); throws when <see cref="OnMessage"/>
    /// has subscribers.
    /// </summary>
    public async ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _mode, ModeReader, ModeNone) == ModeEvent)
            throw new WebRtcException(WebRtcError.InvalidState, $"channel '{Label}': messages are delivered to OnMessage; use one delivery model");
        try
        {
            var message = await _received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _queuedBytes, -message.Data.Length);
            Consumed(message.Data.Length);
            return message;
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Closes the channel (its stream is reset; the peer sees close).</summary>
    public void Close()
    {
        if (_state is RTCDataChannelState.Closed or RTCDataChannelState.Closing) return;
        _state = RTCDataChannelState.Closing;
        _pc.CloseChannel(this);
    }

    /// <inheritdoc/>
    public ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Close();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    // ---------------------------------------------------------------- called by the peer connection (on its loop)

    internal void AssignId(ushort id) => Id = id;

    internal void AddPosted(long bytes) => Interlocked.Add(ref _postedBytes, bytes);

    internal void SetOpen(long remoteMaxMessageSize)
    {
        if (_state != RTCDataChannelState.Connecting) return;
        Interlocked.Exchange(ref _maxMessageSize, remoteMaxMessageSize);
        _state = RTCDataChannelState.Open;
        _opened.TrySetResult();
        _pc.Raise(OnOpen);
    }

    internal void Deliver(byte[] data, bool isText)
    {
        var message = new ChannelMessage(data, isText);
        if (Volatile.Read(ref _mode) == ModeEvent && CurrentHandler() is { } h)
        {
            FlushQueuedToHandler();
            Hold(data.Length);
            _pc.Events.PostMessage(this, h, message);
            return;
        }
        // No consumer yet, or the reader: queue. Never drop a message silently (the channel may be reliable) and never
        // buffer without bound: past the limit the channel fails with an error and is closed.
        if (Interlocked.Add(ref _queuedBytes, data.Length) <= MaxQueuedBytes && _received.Writer.TryWrite(message))
        {
            // Counts against the SCTP receive window until the reader takes it (back-pressure; see the remarks).
            Hold(data.Length);
        }
        else
        {
            Interlocked.Add(ref _queuedBytes, -data.Length);
            if (_state is RTCDataChannelState.Closed) return;
            var error = new WebRtcException(WebRtcError.LimitExceeded,
                $"channel '{Label}': the application stopped reading ({MaxQueuedMessages} messages / {MaxQueuedBytes >> 20} MiB queued); closing instead of dropping messages");
            RaiseError(error);
            Close();
            SetClosed();
        }
    }

    private Action<ChannelMessage>? CurrentHandler()
    {
        lock (_waiterGate) return _onMessage;
    }

    /// <summary>On the loop: charges a message against the SCTP window until it is consumed (<see cref="Consumed"/>).</summary>
    private void Hold(int length)
    {
        if (_state == RTCDataChannelState.Closed) return;
        long charge = ReceiveCharge(length);
        _heldCharge += charge;
        _pc.HoldReceived(charge);
    }

    /// <summary>
    /// On the loop: hands messages queued before the first <see cref="OnMessage"/> subscription to it, in order, through
    /// the connection's dispatcher (they stay charged until their handler returned).
    /// </summary>
    private void FlushQueuedToHandler()
    {
        if (Volatile.Read(ref _mode) != ModeEvent) return;
        while (CurrentHandler() is { } h && _received.Reader.TryRead(out var m))
        {
            Interlocked.Add(ref _queuedBytes, -m.Data.Length);
            _pc.Events.PostMessage(this, h, m);
        }
    }

    /// <summary>On the dispatcher: an <see cref="OnMessage"/> handler returned; the message's window charge goes back.</summary>
    /// <returns>True when the window was not given back yet (<paramref name="more"/>): the dispatcher then calls <see cref="FlushConsumed"/> later.</returns>
    internal bool HandlerConsumed(int length, bool more) => Consumed(length, more);

    /// <summary>On the dispatcher: gives back what <see cref="HandlerConsumed"/> deferred.</summary>
    internal void FlushConsumed()
    {
        if (Interlocked.Read(ref _toRelease) > 0 && Interlocked.Exchange(ref _releaseQueued, 1) == 0) _pc.PostToLoop(_releaseConsumed ??= _ => ReleaseConsumed());
    }

    private static long ReceiveCharge(int length) => Math.Max(length, MinReceiveCharge);

    /// <summary>A queued message was taken (any thread): its window charge goes back to SCTP on the loop.</summary>
    private bool Consumed(int length, bool more = false)
    {
        long pending = Interlocked.Add(ref _toRelease, ReceiveCharge(length));
        // From the dispatcher with more handlers queued: give the window back in steps (SCTP advertises a grown window
        // only when a quarter of it opened anyway), and always once the queue ran empty — one loop post per step, not per message.
        if (more && pending < ReleaseStep) return true;
        if (Interlocked.Exchange(ref _releaseQueued, 1) == 0) _pc.PostToLoop(_releaseConsumed ??= _ => ReleaseConsumed());
        return false;
    }

    private const long ReleaseStep = 128 << 10;
    private int _releaseQueued;
    private Action<TimeSpan>? _releaseConsumed;

    /// <summary>On the loop: hands the consumed bytes back to the SCTP window (never more than this channel holds).</summary>
    private void ReleaseConsumed()
    {
        Volatile.Write(ref _releaseQueued, 0); // consumed from now on queues the next release
        long n = Math.Min(Interlocked.Exchange(ref _toRelease, 0), _heldCharge);
        if (n <= 0) return;
        _heldCharge -= n;
        _pc.ReleaseReceived(n);
    }

    /// <summary>The core's buffered amount after a send or after packets left; wakes <see cref="SendAsync"/> waiters.</summary>
    internal void UpdateBuffered(long coreBuffered, long consumedPosted = 0)
    {
        Interlocked.Exchange(ref _coreBuffered, coreBuffered);
        if (consumedPosted != 0) Interlocked.Add(ref _postedBytes, -consumedPosted);
        if (BufferedAmount <= SendAsyncHighWater) WakeSenders();
    }

    private long _sendAsyncWaits;

    /// <summary>Diagnostics: how often <see cref="SendAsync"/> had to wait for the buffered amount to fall (allocation benches).</summary>
    internal long SendAsyncWaits => Interlocked.Read(ref _sendAsyncWaits);

    private void WakeSenders()
    {
        TaskCompletionSource? t;
        lock (_waiterGate) { t = _drained; _drained = null; }
        t?.TrySetResult();
    }

    internal void RaiseBufferedAmountLow() => _pc.Raise(OnBufferedAmountLow);

    internal void RaiseError(WebRtcException ex) => _pc.Raise(OnError, ex);

    internal void Fail(WebRtcException ex)
    {
        RaiseError(ex);
        SetClosed();
    }

    internal void SetClosed()
    {
        if (_state == RTCDataChannelState.Closed) return;
        _state = RTCDataChannelState.Closed;
        _opened.TrySetException(new WebRtcException(WebRtcError.Closed, $"channel '{Label}' closed"));
        _ = _opened.Task.Exception; // observed
        _received.Writer.TryComplete();
        // A closed channel receives nothing more: what its queue holds no longer closes the connection's window.
        if (_heldCharge > 0) { _pc.ReleaseReceived(_heldCharge); _heldCharge = 0; }
        if (Volatile.Read(ref _mode) == ModeEvent) FlushQueuedToHandler();
        WakeSenders();
        _pc.Raise(OnClose);
    }
}
