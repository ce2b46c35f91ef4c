using OspBridge.Net.Channels;

namespace OspBridge.Testing.Channels;

/// <summary>
/// One end of an in-memory, reliable, ordered <see cref="IMessageChannel"/> pair with a max message size and
/// back-pressure: <see cref="SendAsync"/> waits while the peer has more than <c>capacityBytes</c> unread.
/// Messages are copied on send (the caller may reuse its buffer). Cancelling a receive never loses a message.
/// </summary>
public sealed class InMemoryMessageChannel : IMessageChannel
{
    private readonly object _gate = new();
    private readonly Queue<ChannelMessage> _inbox = new();
    private readonly long _capacity;
    private InMemoryMessageChannel _peer = null!;
    private long _inboxBytes;
    private TaskCompletionSource? _readable;
    private TaskCompletionSource? _drained;
    private volatile MessageChannelState _state = MessageChannelState.Open;

    private InMemoryMessageChannel(string label, string protocol, long maxMessageSize, long capacity)
    {
        Label = label;
        Protocol = protocol;
        MaxMessageSize = maxMessageSize;
        _capacity = capacity;
    }

    /// <summary>Creates a connected pair (both open).</summary>
    public static (InMemoryMessageChannel A, InMemoryMessageChannel B) CreatePair(long maxMessageSize = 262_144, long capacityBytes = 4 << 20, string label = "http-proxy", string protocol = "")
    {
        var a = new InMemoryMessageChannel(label, protocol, maxMessageSize, capacityBytes);
        var b = new InMemoryMessageChannel(label, protocol, maxMessageSize, capacityBytes);
        a._peer = b;
        b._peer = a;
        return (a, b);
    }

    public string Label { get; }
    public string Protocol { get; }
    public MessageChannelState State => _state;
    public long MaxMessageSize { get; }

    /// <summary>Bytes this end sent that the peer has not read yet.</summary>
    public long BufferedAmount { get { lock (_peer._gate) return _peer._inboxBytes; } }

    /// <summary>Messages sent by this end (diagnostics).</summary>
    public long MessagesSent { get; private set; }

    /// <summary>Hook that sees every message this end sends (tests capture the wire here).</summary>
    public Action<ReadOnlyMemory<byte>, bool>? OnSend { get; set; }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default)
    {
        if (MaxMessageSize > 0 && data.Length > MaxMessageSize)
            throw new InvalidOperationException($"{data.Length} bytes exceed max-message-size {MaxMessageSize}");
        while (true)
        {
            if (_state != MessageChannelState.Open) throw new InvalidOperationException("channel is " + _state);
            Task wait;
            var peer = _peer;
            lock (peer._gate)
            {
                if (peer._state == MessageChannelState.Closed) throw new InvalidOperationException("peer closed");
                if (peer._inboxBytes <= _capacity)
                {
                    peer._inbox.Enqueue(new ChannelMessage(data.ToArray(), isText));
                    peer._inboxBytes += data.Length;
                    MessagesSent++;
                    OnSend?.Invoke(data, isText);
                    var r = peer._readable; peer._readable = null; r?.TrySetResult();
                    return;
                }
                peer._drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = peer._drained.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_inbox.TryDequeue(out var m))
                {
                    _inboxBytes -= m.Data.Length;
                    if (_inboxBytes <= _capacity) { var d = _drained; _drained = null; d?.TrySetResult(); }
                    return m;
                }
                if (_state == MessageChannelState.Closed) return null;
                _readable ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _readable.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        MarkClosed();
        _peer.MarkClosed();
        return ValueTask.CompletedTask;
    }

    private void MarkClosed()
    {
        lock (_gate)
        {
            _state = MessageChannelState.Closed;
            var r = _readable; _readable = null; r?.TrySetResult();
            var d = _drained; _drained = null; d?.TrySetResult();
        }
    }

    public ValueTask DisposeAsync() => CloseAsync();
}
