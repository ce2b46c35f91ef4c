using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace OspBridge.Osp.Lp2p;

/// <summary>
/// One consumer of an LP2P incoming queue (connections of an <see cref="LP2PReceiver"/>, channels of an
/// <see cref="LP2PConnection"/>): either pulled (<see cref="NextAsync"/>, <see cref="AllAsync"/>) or, from the first
/// subscriber on, raised as an event by one pump on a pool thread. A failing handler does not stop the delivery.
/// </summary>
internal sealed class IncomingQueue<T>
    where T : class
{
    private readonly ChannelReader<T> _reader;
    private Action<T>? _handlers;
    private int _pumpStarted;

    public IncomingQueue(ChannelReader<T> reader) => _reader = reader;

    /// <summary>Adds an event handler; the first one starts the pump (the event becomes the consumer).</summary>
    public void Subscribe(Action<T>? handler)
    {
        _handlers += handler;
        if (handler is not null && Interlocked.Exchange(ref _pumpStarted, 1) == 0)
        {
            _ = PumpAsync();
        }
    }

    /// <summary>Removes an event handler (the pump keeps running).</summary>
    public void Unsubscribe(Action<T>? handler) => _handlers -= handler;

    /// <summary>The next item; null once the queue is completed.</summary>
    public async ValueTask<T?> NextAsync(CancellationToken cancellationToken)
    {
        while (await _reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_reader.TryRead(out var item)) return item;
        }

        return null;
    }

    /// <summary>Every item until the queue is completed.</summary>
    public async IAsyncEnumerable<T> AllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await NextAsync(cancellationToken).ConfigureAwait(false) is { } item)
        {
            yield return item;
        }
    }

    private async Task PumpAsync()
    {
        await Task.Yield();
        while (await NextAsync(CancellationToken.None).ConfigureAwait(false) is { } item)
        {
            try
            {
                _handlers?.Invoke(item);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _ = ex; // an application handler failed; keep delivering
            }
        }
    }
}
