using OspBridge.Net.Channels;

namespace OspBridge.WebRtc;

/// <summary>
/// Runs one peer connection's application event handlers (<c>OnMessage</c>, <c>OnOpen</c>, state changes…) off the
/// connection's loop: the loop queues them here and goes on, and one thread-pool work item at a time runs them, in the
/// order they were queued. So handlers of one connection never run concurrently and keep their order, and a handler
/// that blocks holds up only its own connection's later handlers — never the loop's pass nor the shared I/O thread
/// that receives for every connection (issue 14: the loop's pass may run on the epoll thread).
/// </summary>
/// <remarks>
/// Memory stays bounded without a limit here: messages delivered to <c>OnMessage</c> are charged against the SCTP
/// receive window until their handler returned (see <see cref="RTCDataChannel"/>), and other events are rare
/// (one per state change). Queue entries are structs (no allocation per message); the queue keeps its high-water size.
/// </remarks>
internal sealed class EventDispatcher : IThreadPoolWorkItem
{
    private const int MaxItemsPerRun = 256; // then the work item re-queues itself, so one busy connection does not hog a worker

    [ThreadStatic] private static EventDispatcher? _running;

    private readonly object _gate = new();
    private readonly Queue<Item> _queue = new();
    private readonly Action<Exception> _onHandlerFailed;
    private bool _scheduled;
    private int _queued; // items in _queue (read without the lock as a hint)
    private long _dispatched;
    private long _runs;

    /// <param name="onHandlerFailed">Called (on the dispatcher) when a handler throws; the dispatcher goes on with the next item.</param>
    public EventDispatcher(Action<Exception> onHandlerFailed) => _onHandlerFailed = onHandlerFailed;

    /// <summary>True on the thread that is running this dispatcher's handlers right now.</summary>
    public bool IsRunningHere => ReferenceEquals(_running, this);

    /// <summary>Handlers run so far (tests, diagnostics).</summary>
    public long Dispatched => Interlocked.Read(ref _dispatched);

    /// <summary>Thread-pool work items run so far (tests, diagnostics: one per burst of events, not one per event).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>Queues <paramref name="action"/> (any thread).</summary>
    public void Post(Action action) => Enqueue(new Item(action, null, null, default, null));

    /// <summary>Queues the delivery of <paramref name="message"/> to <paramref name="handler"/>; the channel is told when it ran (its window charge goes back).</summary>
    public void PostMessage(RTCDataChannel channel, Action<ChannelMessage> handler, ChannelMessage message) =>
        Enqueue(new Item(null, channel, handler, message, null));

    /// <summary>
    /// A task that completes once every item queued before this call has run; null when nothing is queued or running
    /// (or when called from one of this dispatcher's own handlers, which must not wait for themselves).
    /// </summary>
    public Task? Barrier()
    {
        if (IsRunningHere) return null;
        lock (_gate)
        {
            if (!_scheduled) return null;
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _queue.Enqueue(new Item(null, null, null, default, tcs));
            _queued++;
            return tcs.Task;
        }
    }

    private void Enqueue(in Item item)
    {
        bool schedule;
        lock (_gate)
        {
            _queue.Enqueue(item);
            _queued++;
            schedule = !_scheduled;
            _scheduled = true;
        }
        if (schedule) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <inheritdoc/>
    void IThreadPoolWorkItem.Execute()
    {
        Interlocked.Increment(ref _runs);
        var previous = _running;
        _running = this;
        try
        {
            for (int n = 0; n < MaxItemsPerRun; n++)
            {
                Item item;
                bool got;
                lock (_gate)
                {
                    got = _queue.TryDequeue(out item);
                    if (got) _queued--;
                    else if (_deferred.Count == 0)
                    {
                        _scheduled = false;
                        return;
                    }
                }
                if (got) RunOne(item);
                else FlushDeferred(); // idle now: give back the windows deferred during the burst, then look again
            }
            FlushDeferred();
        }
        finally
        {
            _running = previous;
        }
        // Still busy after MaxItemsPerRun handlers: stay scheduled (nobody else starts a run) and continue in a new work
        // item, behind other pool work; the order is kept because only this dispatcher's one work item dequeues.
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    private void RunOne(in Item item)
    {
        Interlocked.Increment(ref _dispatched);
        try
        {
            if (item.Barrier is { } b) { b.TrySetResult(); return; }
            if (item.Handler is { } h)
            {
                try { h(item.Message); }
                finally
                {
                    // More handlers queued: the channel may defer giving the window back (see FlushDeferred).
                    if (item.Channel!.HandlerConsumed(item.Message.Data.Length, more: Volatile.Read(ref _queued) > 0) && !_deferred.Contains(item.Channel))
                        _deferred.Add(item.Channel);
                }
                return;
            }
            item.Action!();
        }
        catch (Exception ex)
        {
            _onHandlerFailed(ex);
        }
    }

    /// <summary>Channels that deferred giving their consumed window back (dispatcher only): flushed when the queue ran empty or the run ends.</summary>
    private readonly List<RTCDataChannel> _deferred = [];

    private void FlushDeferred()
    {
        foreach (var ch in _deferred) ch.FlushConsumed();
        _deferred.Clear();
    }

    private readonly record struct Item(Action? Action, RTCDataChannel? Channel, Action<ChannelMessage>? Handler, ChannelMessage Message, TaskCompletionSource? Barrier);
}
