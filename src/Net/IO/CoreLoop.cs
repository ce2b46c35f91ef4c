using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.Core;

namespace OspBridge.Net.IO;

/// <summary>Settings of a <see cref="CoreLoop{TEvent}"/>.</summary>
public sealed record CoreLoopOptions
{
    /// <summary>Clock and timers; tests pass a fake.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the loop logs (core failures, dropped input).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>A name for log messages (e.g. the connection's remote endpoint).</summary>
    public string Name { get; init; } = "core";

    /// <summary>Most received datagrams waiting for the loop; further ones are dropped and counted.</summary>
    public int InboxCapacity { get; init; } = 4096;

    /// <summary>Send-batch slots (datagrams handed to the socket at once).</summary>
    public int SendBatchSize { get; init; } = 32;

    /// <summary>
    /// The largest datagram the core writes (the send slot size); must cover the core's MTU
    /// (see <see cref="IProtocolCore.TryPollTransmit"/>).
    /// </summary>
    public int MaxDatagramSize { get; init; } = 2048;

    /// <summary>Most transmits drained in one service pass before the loop yields to input again.</summary>
    public int MaxTransmitsPerPass { get; init; } = 1024;
}

/// <summary>
/// The one I/O driver model: a single serialized loop per connection/association/agent that owns one
/// sans-IO <see cref="IProtocolCore{TEvent}"/>. Received datagrams, API calls and timer expiries are queued
/// to the loop; only the loop touches the core, so the core needs no lock. After every batch of input the
/// loop fires due deadlines, drains transmits into a <see cref="DatagramBatch"/> for the
/// <see cref="IDatagramSender"/>, hands events to the event handler, and re-arms one
/// <see cref="TimeProvider"/> timer at the core's <see cref="IProtocolCore.NextDeadline"/>. No thread per
/// connection, no polling.
/// </summary>
/// <typeparam name="TEvent">The core's event type.</typeparam>
public sealed class CoreLoop<TEvent> : IAsyncDisposable
{
    private readonly IProtocolCore<TEvent> _core;
    private readonly IDatagramSender _sender;
    private readonly Action<TEvent> _onEvent;
    private readonly CoreLoopOptions _options;
    private readonly CoreClock _clock;
    private readonly Channel<WorkItem> _inbox = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly DatagramBatch _sendBatch;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _queuedDatagrams;
    private int _timerQueued;
    private long _dropped;
    private TimeSpan? _armedFor;
    private int _started;
    private int _disposed;
    private readonly List<(Action Ok, Action<Exception> Failed)> _afterService = [];

    /// <summary>Creates a loop for <paramref name="core"/>; call <see cref="Start"/> to run it.</summary>
    /// <param name="core">The core; from now on only the loop may call it.</param>
    /// <param name="sender">Where transmits go.</param>
    /// <param name="onEvent">Called on the loop for every core event; must not block (hand work off to channels/tasks).</param>
    /// <param name="options">Settings.</param>
    public CoreLoop(IProtocolCore<TEvent> core, IDatagramSender sender, Action<TEvent> onEvent, CoreLoopOptions? options = null)
    {
        _core = core ?? throw new ArgumentNullException(nameof(core));
        _sender = sender ?? throw new ArgumentNullException(nameof(sender));
        _onEvent = onEvent ?? throw new ArgumentNullException(nameof(onEvent));
        _options = options ?? new CoreLoopOptions();
        _clock = new CoreClock(_options.TimeProvider);
        _sendBatch = new DatagramBatch(_options.SendBatchSize, _options.MaxDatagramSize);
        _timer = _options.TimeProvider.CreateTimer(static s => ((CoreLoop<TEvent>)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The loop's clock (the <c>now</c> the core sees).</summary>
    public CoreClock Clock => _clock;

    /// <summary>Completes when the loop stops: normally after <see cref="DisposeAsync"/>, faulted if the core or the event handler threw.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Received datagrams dropped because the inbox was full or the loop had stopped.</summary>
    public long DroppedDatagrams => Interlocked.Read(ref _dropped);

    /// <summary>Starts the loop (once).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        _ = Task.Run(RunAsync);
    }

    /// <summary>
    /// Queues a received datagram for the core (copied into a pooled buffer). Returns false, and counts a
    /// drop, when the inbox is full or the loop has stopped. Safe from any thread.
    /// </summary>
    public bool TryPostDatagram(ReadOnlySpan<byte> datagram, DatagramPath path)
    {
        if (Interlocked.Increment(ref _queuedDatagrams) > _options.InboxCapacity || _completion.Task.IsCompleted)
        {
            Interlocked.Decrement(ref _queuedDatagrams);
            Interlocked.Increment(ref _dropped);
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(datagram.Length, 1));
        datagram.CopyTo(buffer);
        if (!_inbox.Writer.TryWrite(new WorkItem(buffer, datagram.Length, path, null, null)))
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Interlocked.Decrement(ref _queuedDatagrams);
            Interlocked.Increment(ref _dropped);
            return false;
        }
        return true;
    }

    /// <summary>
    /// Queues <paramref name="action"/> to run on the loop with the current <c>now</c>; false when the loop has
    /// stopped. An exception thrown by <paramref name="action"/> fails the loop (see <see cref="Completion"/>);
    /// an action still queued when the loop stops is not run.
    /// </summary>
    public bool Post(Action<TimeSpan> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return !_completion.Task.IsCompleted && _inbox.Writer.TryWrite(new WorkItem(null, 0, default, action, null));
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the loop and returns its result once the core's output that the
    /// action caused has been handed to the sender. An exception from <paramref name="action"/> goes to the
    /// caller (the loop keeps running); a stopped loop gives <see cref="ObjectDisposedException"/>, a loop
    /// that fails in the same pass gives the loop's exception.
    /// </summary>
    public Task<T> InvokeAsync<T>(Func<TimeSpan, T> action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var item = new WorkItem(null, 0, default,
            now =>
            {
                if (cancellationToken.IsCancellationRequested) { tcs.TrySetCanceled(cancellationToken); return; }
                // The caller resumes only after the service pass flushed what the action made the core send.
                try
                {
                    var result = action(now);
                    _afterService.Add((() => tcs.TrySetResult(result), e => tcs.TrySetException(e)));
                }
                catch (Exception ex)
                {
                    _afterService.Add((() => tcs.TrySetException(ex), e => tcs.TrySetException(ex)));
                }
            },
            ex => tcs.TrySetException(ex));
        if (_completion.Task.IsCompleted || !_inbox.Writer.TryWrite(item))
            return Task.FromException<T>(Stopped());
        return tcs.Task;
    }

    /// <summary>Runs <paramref name="action"/> on the loop; the core's output is flushed afterwards.</summary>
    public Task InvokeAsync(Action<TimeSpan> action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        return InvokeAsync<bool>(now => { action(now); return true; }, cancellationToken);
    }

    private ObjectDisposedException Stopped() => new(_options.Name, "the loop has stopped");

    private void OnTimer()
    {
        if (Interlocked.Exchange(ref _timerQueued, 1) == 0)
            _inbox.Writer.TryWrite(new WorkItem(null, -1, default, null, null));
    }

    private async Task RunAsync()
    {
        var reader = _inbox.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                var now = _clock.Now;
                for (int n = 0; n < 256 && reader.TryRead(out var item); n++)
                {
                    if (item.Buffer is { } buf)
                    {
                        Interlocked.Decrement(ref _queuedDatagrams);
                        try { _core.Receive(buf.AsSpan(0, item.Length), item.Path, now); }
                        finally { ArrayPool<byte>.Shared.Return(buf); }
                    }
                    else if (item.Action is { } a)
                    {
                        a(now);
                    }
                    else
                    {
                        Volatile.Write(ref _timerQueued, 0);
                        _armedFor = null;
                    }
                }
                Service();
                CompleteInvokes(null);
            }
            _completion.TrySetResult();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            _completion.TrySetResult();
        }
        catch (Exception ex)
        {
            LoopFailed(_options.Logger, _options.Name, ex);
            CompleteInvokes(ex);
            _completion.TrySetException(ex);
        }
        finally
        {
            _inbox.Writer.TryComplete();
            await _timer.DisposeAsync().ConfigureAwait(false);
            // What is still queued never reaches the stopped core: buffers go back, InvokeAsync callers see the stop.
            while (reader.TryRead(out var item))
            {
                if (item.Buffer is { } buf) ArrayPool<byte>.Shared.Return(buf);
                item.Abort?.Invoke(Stopped());
            }
        }
    }

    private void CompleteInvokes(Exception? fault)
    {
        if (_afterService.Count == 0) return;
        foreach (var (ok, failed) in _afterService)
        {
            if (fault is null) ok();
            else failed(fault);
        }
        _afterService.Clear();
    }

    /// <summary>Fires due deadlines, flushes transmits and events, and re-arms the timer (bounded passes).</summary>
    private void Service()
    {
        for (int pass = 0; pass < 64; pass++)
        {
            var now = _clock.Now;
            if (_core.NextDeadline is { } due && due <= now) _core.HandleDeadline(now);
            bool more = Flush(now);
            while (_core.TryPollEvent(out var e)) _onEvent(e);
            var next = _core.NextDeadline;
            if (!more && (next is null || next > _clock.Now))
            {
                Arm(next);
                return;
            }
        }
        // Still busy after many passes: come back after other input had its turn.
        Arm(TimeSpan.Zero);
    }

    private bool Flush(TimeSpan now)
    {
        int total = 0;
        while (total < _options.MaxTransmitsPerPass)
        {
            if (!_core.TryPollTransmit(_sendBatch.NextSlot, now, out var t)) break;
            _sendBatch.Commit(t.Length, t.Path);
            total++;
            if (_sendBatch.IsFull) SendBatch();
        }
        if (_sendBatch.Count > 0) SendBatch();
        return total >= _options.MaxTransmitsPerPass;
    }

    private void SendBatch()
    {
        try { _sender.Send(_sendBatch); }
        finally { _sendBatch.Clear(); }
    }

    private void Arm(TimeSpan? deadline)
    {
        if (deadline == _armedFor) return;
        _armedFor = deadline;
        if (deadline is not { } d)
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var delay = d - _clock.Now;
        if (delay < TimeSpan.Zero) delay = TimeSpan.Zero;
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops the loop (the core is left as it is; close it through <see cref="InvokeAsync(Action{TimeSpan}, CancellationToken)"/> first for a graceful end).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _inbox.Writer.TryComplete();
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            // Never started: nothing runs the inbox, so release it here.
            while (_inbox.Reader.TryRead(out var item))
            {
                if (item.Buffer is { } buf) ArrayPool<byte>.Shared.Return(buf);
                item.Abort?.Invoke(Stopped());
            }
            await _timer.DisposeAsync().ConfigureAwait(false);
            _completion.TrySetResult();
        }
        else
        {
            // Items queued before the dispose still run (a graceful drain); a stuck handler is not waited for
            // longer than 5 s of real time (the loop's TimeProvider may be a test's fake that never advances).
            try { await _completion.Task.WaitAsync(TimeSpan.FromSeconds(5), TimeProvider.System).ConfigureAwait(false); }
            catch (TimeoutException) { }
            catch (Exception) when (_completion.Task.IsFaulted) { }
        }
        await _stop.CancelAsync().ConfigureAwait(false);
    }

    private static readonly Action<ILogger, string, Exception?> LoopFailed =
        LoggerMessage.Define<string>(LogLevel.Error, new EventId(1, "CoreLoopFailed"), "{Name}: the protocol loop failed");

    /// <summary>One inbox entry: a datagram (Buffer), an action (with Abort for when it never runs), or a timer tick (neither).</summary>
    private readonly record struct WorkItem(byte[]? Buffer, int Length, DatagramPath Path, Action<TimeSpan>? Action, Action<Exception>? Abort);
}
