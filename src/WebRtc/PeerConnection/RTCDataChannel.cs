using System.Text;
using System.Threading.Channels;
using OspBridge.Net.Channels;

namespace OspBridge.WebRtc;

/// <summary>
/// A data channel shaped like the W3C <c>RTCDataChannel</c> and usable as an <see cref="IMessageChannel"/>:
/// events (<see cref="OnOpen"/>, <see cref="OnMessage"/>, <see cref="OnClose"/>, <see cref="OnError"/>,
/// <see cref="OnBufferedAmountLow"/>) run on the peer connection's loop; <see cref="ReceiveAsync"/> is the pull-style
/// alternative (messages go to one or the other: once <see cref="OnMessage"/> has a handler, nothing is queued).
/// </summary>
public sealed class RTCDataChannel : IMessageChannel
{
    private const int MaxQueuedMessages = 4096;
    private const long MaxQueuedBytes = 16L << 20;
    private long _queuedBytes;
    private readonly RTCPeerConnection _pc;
    private readonly Channel<ChannelMessage> _received = Channel.CreateBounded<ChannelMessage>(new BoundedChannelOptions(MaxQueuedMessages) { FullMode = BoundedChannelFullMode.Wait, SingleReader = false });
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _bufferedAmount;
    private long _lowThreshold;
    private long _maxMessageSize = 65536;

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
    /// <summary>readyState.</summary>
    public MessageChannelState State { get; private set; } = MessageChannelState.Connecting;
    /// <summary>The peer's max-message-size.</summary>
    public long MaxMessageSize => _maxMessageSize;
    /// <summary>Bytes queued and not yet sent.</summary>
    public long BufferedAmount => Interlocked.Read(ref _bufferedAmount);
    /// <summary>bufferedAmountLowThreshold.</summary>
    public long BufferedAmountLowThreshold
    {
        get => _lowThreshold;
        set { _lowThreshold = value; _pc.SetLowThreshold(this, value); }
    }

    /// <summary>The channel opened.</summary>
    public event Action? OnOpen;
    /// <summary>A message arrived (data, isText).</summary>
    public event Action<ReadOnlyMemory<byte>, bool>? OnMessage;
    /// <summary>The channel closed.</summary>
    public event Action? OnClose;
    /// <summary>An error (e.g. message too large).</summary>
    public event Action<WebRtcException>? OnError;
    /// <summary>BufferedAmount fell to or below the threshold.</summary>
    public event Action? OnBufferedAmountLow;

    /// <summary>Completes when the channel is open (faults if it closes first).</summary>
    public Task WaitOpenAsync(CancellationToken cancellationToken = default) => _opened.Task.WaitAsync(cancellationToken);

    /// <summary>Sends a text message.</summary>
    public void Send(string text) => Send(Encoding.UTF8.GetBytes(text), isText: true);

    /// <summary>Sends a binary message.</summary>
    public void Send(ReadOnlyMemory<byte> data) => Send(data, isText: false);

    /// <summary>Sends one message; throws <see cref="WebRtcException"/> when not open or larger than the peer's max-message-size.</summary>
    public void Send(ReadOnlyMemory<byte> data, bool isText)
    {
        if (State != MessageChannelState.Open) throw new WebRtcException(WebRtcError.InvalidState, $"channel '{Label}' is {State}");
        if (data.Length > _maxMessageSize) throw new WebRtcException(WebRtcError.MessageTooLarge, $"{data.Length} bytes exceed the peer's max-message-size {_maxMessageSize}");
        Interlocked.Add(ref _bufferedAmount, data.Length);
        _pc.SendOnLoop(this, _pc.OnLoop ? data : data.ToArray(), isText);
    }

    /// <inheritdoc/>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default)
    {
        // Back-pressure: wait while more than 1 MiB is queued.
        for (int i = 0; BufferedAmount > (1 << 20) && State == MessageChannelState.Open; i++)
            await Task.Delay(Math.Min(1 + i, 10), cancellationToken).ConfigureAwait(false);
        Send(data, isText);
    }

    /// <inheritdoc/>
    public async ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var message = await _received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _queuedBytes, -message.Data.Length);
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
        if (State is MessageChannelState.Closed or MessageChannelState.Closing) return;
        State = MessageChannelState.Closing;
        _pc.CloseChannel(this);
    }

    /// <inheritdoc/>
    public ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        Close();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    internal void AssignId(ushort id) => Id = id;

    internal void SetOpen(long remoteMaxMessageSize)
    {
        if (State != MessageChannelState.Connecting) return;
        _maxMessageSize = remoteMaxMessageSize;
        State = MessageChannelState.Open;
        _opened.TrySetResult();
        OnOpen?.Invoke();
    }

    internal void Deliver(byte[] data, bool isText)
    {
        if (OnMessage is { } h) { h(data, isText); return; }
        // The application is not reading: never drop a message silently (the channel may be reliable) and never
        // buffer without bound. Past the limit the channel fails with an error and is closed.
        if (Interlocked.Add(ref _queuedBytes, data.Length) > MaxQueuedBytes || !_received.Writer.TryWrite(new ChannelMessage(data, isText)))
        {
            Interlocked.Add(ref _queuedBytes, -data.Length);
            if (State is MessageChannelState.Closed) return;
            var error = new WebRtcException(WebRtcError.LimitExceeded,
                $"channel '{Label}': the application stopped reading ({MaxQueuedMessages} messages / {MaxQueuedBytes >> 20} MiB queued); closing instead of dropping messages");
            RaiseError(error);
            Close();
            SetClosed();
        }
    }

    internal void UpdateBuffered(long value) => Interlocked.Exchange(ref _bufferedAmount, value);

    internal void RaiseBufferedAmountLow() => OnBufferedAmountLow?.Invoke();

    internal void RaiseError(WebRtcException ex) => OnError?.Invoke(ex);

    internal void Fail(WebRtcException ex)
    {
        RaiseError(ex);
        SetClosed();
    }

    internal void SetClosed()
    {
        if (State == MessageChannelState.Closed) return;
        State = MessageChannelState.Closed;
        _opened.TrySetException(new WebRtcException(WebRtcError.Closed, $"channel '{Label}' closed"));
        _ = _opened.Task.Exception; // observed
        _received.Writer.TryComplete();
        OnClose?.Invoke();
    }
}
