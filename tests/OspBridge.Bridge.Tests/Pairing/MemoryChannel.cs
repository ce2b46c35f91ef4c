using System.Threading.Channels;
using OspBridge.Net.Channels;

namespace OspBridge.Bridge.Tests.Pairing;

/// <summary>An in-memory <see cref="IMessageChannel"/> pair (reliable, ordered, bounded queue) for protocol tests.</summary>
internal sealed class MemoryChannel : IMessageChannel
{
    private readonly Channel<ChannelMessage> _inbox;
    private MemoryChannel? _peer;

    private MemoryChannel(string label, string protocol, long maxMessageSize)
    {
        Label = label;
        Protocol = protocol;
        MaxMessageSize = maxMessageSize;
        _inbox = Channel.CreateBounded<ChannelMessage>(new BoundedChannelOptions(64) { SingleReader = true });
    }

    public static (MemoryChannel A, MemoryChannel B) CreatePair(string label, string protocol, long maxMessageSize = 0)
    {
        var a = new MemoryChannel(label, protocol, maxMessageSize);
        var b = new MemoryChannel(label, protocol, maxMessageSize);
        a._peer = b;
        b._peer = a;
        return (a, b);
    }

    public string Label { get; }

    public string Protocol { get; }

    public MessageChannelState State { get; private set; } = MessageChannelState.Open;

    public long MaxMessageSize { get; }

    public long BufferedAmount => 0;

    /// <summary>Every message this side sent (for assertions on the wire protocol).</summary>
    public List<ChannelMessage> Sent { get; } = [];

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default)
    {
        if (State != MessageChannelState.Open) throw new InvalidOperationException("channel closed");
        var m = new ChannelMessage(data.ToArray(), isText);
        lock (Sent) Sent.Add(m);
        await _peer!._inbox.Writer.WriteAsync(m, cancellationToken);
    }

    public async ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _inbox.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        State = MessageChannelState.Closed;
        _peer!._inbox.Writer.TryComplete();
        _inbox.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => CloseAsync();
}
