using System.Buffers;
using System.Threading.Tasks.Sources;
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

    /// <summary>
    /// When the loop is idle, run the pass that <see cref="CoreLoop{TEvent}.InvokeAsync{T}"/> and timer expiries need on the
    /// calling thread (the caller then finds its result ready) instead of handing it to the thread pool and waiting for it:
    /// two thread hops fewer per call. Still one pass at a time — the caller runs the loop only after it took the idle
    /// loop's wait. Callers must not hold locks the loop's event handler takes. Off by default.
    /// </summary>
    public bool RunPassOnCaller { get; init; }

    /// <summary>
    /// With the system clock on Linux, the loop's timer is a timerfd on the epoll thread that also receives for
    /// sockets opened with <see cref="UdpSocketOptions.ReceiveOnIoThread"/>: deadlines (pacing, ACK delay, loss
    /// timers) are handled on that thread with nanosecond resolution instead of the runtime's timer thread + a
    /// thread-pool hop. Combine with <see cref="RunPassOnCaller"/> (the expiry's pass then runs right there).
    /// Ignored with any other <see cref="TimeProvider"/> (tests keep their fake clocks). Off by default.
    /// </summary>
    public bool TimersOnIoThread { get; init; }
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
    // The inbox: a ring under _gate (grows by doubling, never shrinks below its high-water mark, so steady state
    // allocates nothing), drained in chunks of up to DrainChunk items per lock acquisition.
    private readonly object _gate = new();
    private WorkItem[] _ring = new WorkItem[64];
    private int _ringHead;
    private int _ringCount;
    private bool _inboxClosed;
    private bool _loopWaiting;
    private WorkItem[] _drain = new WorkItem[16]; // grows to DrainChunk only when the inbox was that deep (issue 13: 14 KiB per idle loop)
    private readonly Waker _waker = new();
    // Received-datagram buffers: a free list owned by this loop (bounded), so a busy connection reuses the same
    // arrays instead of going through ArrayPool<byte>.Shared (whose buckets run dry when thousands are queued).
    // _freeBuffers is guarded by _gate: a poster takes a buffer in the same lock acquisition that queues it, and the
    // loop gives its used buffers back (collected lock-free in _usedBuffers, which only the loop touches) in the lock
    // acquisition of its next drain — no lock per datagram beyond the inbox's own (issue 14: Rent/ReturnBuffer locks).
    private readonly Stack<byte[]> _freeBuffers = new();
    private readonly Stack<byte[]> _usedBuffers = new();
    // Issue 14 (session 15): datagrams of at most TinyBufferSize bytes — QUIC ACKs, SCTP SACKs: half the datagrams of a bulk
    // flow, and the ones a sender's inbox piles up when its loop is descheduled (> 2 000 in flight at load 10–20) — get
    // 256-byte buffers from a third list that may keep as many as the inbox holds (≤ 1 MiB at the default capacity), so
    // a backed-up inbox of them never allocates once the list is warm (before: 2 KiB buffers, at most 1 024 kept).
    private readonly Stack<byte[]> _freeTiny = new();
    private readonly Stack<byte[]> _usedTiny = new();
    internal const int TinyBufferSize = 256;
    private readonly int _maxFreeTiny; // the inbox's capacity (at most MaxFreeTinyBytes of them)
    private const int MaxFreeTinyBytes = 4 << 20;
    private const int DrainChunk = 256;
    private const int PoolBufferSize = 2048;
    internal const int MaxFreeBuffers = 1024; // ≤ 2 MiB kept per loop, only after its inbox was that deep, and only while it receives
    // Datagrams larger than PoolBufferSize up to the loop's MaxDatagramSize (QUIC on loopback: 16 KiB) get the same
    // treatment from a second free list of that size (issue 14: through ArrayPool.Shared — rented on the receive thread,
    // returned on the loop's — 16 KiB buffers were dropped and allocated anew, ≈ 300 B per datagram in some runs).
    private readonly Stack<byte[]> _freeLarge = new();
    private readonly Stack<byte[]> _usedLarge = new();
    private readonly int _largeBufferSize; // 0: no large list (MaxDatagramSize ≤ PoolBufferSize)
    private readonly int _maxFreeLarge;    // ≤ 4 MiB of them per loop (MaxFreeLargeBytes)
    // Issue 14 (session 15): 1 MiB (64 × 16 KiB) was less than a loaded QUIC loop's inbox held in a burst (≈ 190 datagrams
    // of 16 KiB when the socket's hand-off batches ran out, at load 10–20): the rest were allocated and dropped again. The
    // large list now keeps up to 4 MiB; all lists are emptied once the loop has received nothing for
    // ReceiveBufferIdleRelease, so the larger bounds cost nothing on an idle loop (before, a loop kept its lists — up to
    // 3 MiB — for its lifetime).
    internal const int MaxFreeLargeBytes = 4 << 20;
    private TimeSpan _lastReceive;          // loop clock of the last drain that held a datagram or batch
    private bool _keepsReceiveBuffers;      // loop only: the loop used pooled receive buffers since the lists were last emptied
    private long _receiveBuffersAllocated;  // under _gate: buffers the free lists could not serve (allocated)
    private long _receiveBuffersDiscarded;  // under _gate: used buffers the full free lists did not keep
    private long _receiveBufferReleases;    // loop only: times the free lists were emptied for idleness

    /// <summary>How long a loop keeps its free receive buffers after its last received datagram.</summary>
    internal static readonly TimeSpan ReceiveBufferIdleRelease = TimeSpan.FromMilliseconds(250);
    private readonly DatagramBatch _sendBatch;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _queuedDatagrams;
    private long _wakeups, _drains, _itemsDrained, _sendBatches, _transmits, _inlineWakeups, _timerChanges, _earlyTimerPasses;
    private bool _timerFired;
    private int _timerQueued;
    private long _dropped;
    private TimeSpan? _armedFor;
    private bool _armedForRelease; // the timer is armed for the send buffer's release, earlier than the core's deadline
    private bool _releaseTimerFired; // the timer that fired was the release's: its pass is not an early one
    private TimeSpan _lastSend = TimeSpan.MinValue / 2; // loop clock of the last pass that sent

    /// <summary>How long a loop keeps its send slots after its last send (while it waits in between).</summary>
    internal static readonly TimeSpan SendBufferIdleRelease = TimeSpan.FromMilliseconds(250);

    /// <summary>Passes that sent, in a row (no gap of <see cref="SendBufferIdleRelease"/>), after which a loop keeps its send slots across waits.</summary>
    internal const int KeepSendSlotsAfter = 32;

    private int _sendingPasses; // passes that sent since the loop last gave its slots back for idleness (capped)

    /// <summary>True when the loop keeps its send slots across the wait it is about to enter (see <see cref="Arm"/>).</summary>
    private bool KeepsSendSlots(TimeSpan now)
    {
        if (ReleaseSendSlotsAtEveryWait || _sendingPasses < KeepSendSlotsAfter) return false;
        if (now - _lastSend < SendBufferIdleRelease) return true;
        _sendingPasses = 0; // idle: back to giving them back at every wait until it is busy again
        return false;
    }

    /// <summary><c>OSPBRIDGE_SEND_SLOTS=release</c> (A/B): give the send slots back at every wait, as before issue 14's change.</summary>
    private static readonly bool ReleaseSendSlotsAtEveryWait = Environment.GetEnvironmentVariable("OSPBRIDGE_SEND_SLOTS") == "release";
    private int _started;
    private int _disposed;
    private readonly List<IInvocation> _afterService = []; // InvokeAsync calls whose action ran in this pass: completed after its flush

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
        _maxFreeTiny = Math.Clamp(_options.InboxCapacity, 16, MaxFreeTinyBytes / TinyBufferSize);
        if (_options.MaxDatagramSize > PoolBufferSize)
        {
            _largeBufferSize = _options.MaxDatagramSize;
            _maxFreeLarge = Math.Max(4, MaxFreeLargeBytes / _largeBufferSize);
        }
        var timers = _options.TimersOnIoThread && ReferenceEquals(_options.TimeProvider, TimeProvider.System) && EpollTimeProvider.TryGet() is { } io
            ? io : _options.TimeProvider;
        _wholeMilliseconds = !ExactTimer && ReferenceEquals(timers, TimeProvider.System);
        _runPassOnCaller = _options.RunPassOnCaller && !PassOnCallerOff;
        _timer = timers.CreateTimer(static s => ((CoreLoop<TEvent>)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True while the loop waits for input (tests: a queued datagram does not end the wait, <see cref="Wake"/> does).</summary>
    internal bool IsWaitingForInput
    {
        get { lock (_gate) return _loopWaiting; }
    }

    /// <summary>True while the loop holds its send batch's buffer (given back whenever it waits; tests).</summary>
    internal bool HoldsSendBuffer => _sendBatch.HasBuffer;

    /// <summary>The loop's clock (the <c>now</c> the core sees).</summary>
    public CoreClock Clock => _clock;

    /// <summary>Completes when the loop stops: normally after <see cref="DisposeAsync"/>, faulted if the core or the event handler threw.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Received datagrams dropped because the inbox was full or the loop had stopped.</summary>
    public long DroppedDatagrams => Interlocked.Read(ref _dropped);

    /// <summary>Diagnostic counters (how often the loop woke, drained, sent); read them after the loop stopped for exact values.</summary>
    public CoreLoopCounters Counters => new(Volatile.Read(ref _wakeups), Volatile.Read(ref _drains), Volatile.Read(ref _itemsDrained),
        Volatile.Read(ref _sendBatches), Volatile.Read(ref _transmits), Volatile.Read(ref _inlineWakeups), Volatile.Read(ref _timerChanges),
        Volatile.Read(ref _earlyTimerPasses));

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
    public bool TryPostDatagram(ReadOnlySpan<byte> datagram, DatagramPath path) => PostDatagram(datagram, path, wake: true);

    /// <summary>
    /// Like <see cref="TryPostDatagram"/> but does not wake the loop: the caller queues a whole receive batch this
    /// way and then calls <see cref="Wake"/> once, so the loop handles every datagram of the batch in one pass (and
    /// answers them with one flush). A caller that queues without calling <see cref="Wake"/> delays the datagrams
    /// until the next input or timer wakes the loop.
    /// </summary>
    public bool TryQueueDatagram(ReadOnlySpan<byte> datagram, DatagramPath path) => PostDatagram(datagram, path, wake: false);

    private bool PostDatagram(ReadOnlySpan<byte> datagram, DatagramPath path, bool wake)
    {
        if (Interlocked.Increment(ref _queuedDatagrams) > _options.InboxCapacity || _completion.Task.IsCompleted)
        {
            Interlocked.Decrement(ref _queuedDatagrams);
            Interlocked.Increment(ref _dropped);
            return false;
        }
        bool queued;
        if (datagram.Length <= PoolBufferSize || datagram.Length <= _largeBufferSize)
        {
            // One lock: take a free buffer, copy, queue (a ≤ 2 KiB copy under the lock is shorter than a second lock; a 16 KiB
            // one about as long as the lock round trip it saves).
            bool signal = false;
            lock (_gate)
            {
                queued = !_inboxClosed;
                if (queued)
                {
                    var buffer = datagram.Length <= TinyBufferSize
                        ? _freeTiny.TryPop(out var t) ? t : AllocateReceiveBufferLocked(TinyBufferSize)
                        : datagram.Length <= PoolBufferSize
                        ? _freeBuffers.TryPop(out var b) ? b : AllocateReceiveBufferLocked(PoolBufferSize)
                        : _freeLarge.TryPop(out var l) ? l : AllocateReceiveBufferLocked(_largeBufferSize);
                    datagram.CopyTo(buffer);
                    AppendLocked(new WorkItem(ItemKind.Datagram, buffer, datagram.Length, path, null, null));
                    if (wake) signal = TakeWaiterLocked();
                }
            }
            if (signal) _waker.Signal(inline: false);
        }
        else
        {
            var buffer = ArrayPool<byte>.Shared.Rent(datagram.Length);
            datagram.CopyTo(buffer);
            queued = TryEnqueue(new WorkItem(ItemKind.Datagram, buffer, datagram.Length, path, null, null), wake);
            if (!queued) ArrayPool<byte>.Shared.Return(buffer);
        }
        if (!queued)
        {
            Interlocked.Decrement(ref _queuedDatagrams);
            Interlocked.Increment(ref _dropped);
        }
        return queued;
    }

    /// <summary>
    /// Queues a whole received batch for the core without copying it: the loop passes each datagram to the core
    /// straight from the batch's buffer (the core may decrypt in place), then calls <paramref name="release"/>
    /// with the batch, on the loop; also when the loop stops before processing it. Returns false — without
    /// calling <paramref name="release"/>, the caller still owns the batch — when the batch would overflow the
    /// inbox or the loop has stopped; the caller then posts the datagrams one by one (which counts drops).
    /// Safe from any thread; the batch must not be touched until released.
    /// </summary>
    public bool TryPostBatch(DatagramBatch batch, Action<DatagramBatch> release) => PostBatch(batch, release, wake: true);

    /// <summary>Like <see cref="TryPostBatch"/> but does not wake the loop; call <see cref="Wake"/> afterwards (see <see cref="TryQueueDatagram"/>).</summary>
    public bool TryQueueBatch(DatagramBatch batch, Action<DatagramBatch> release) => PostBatch(batch, release, wake: false);

    private bool PostBatch(DatagramBatch batch, Action<DatagramBatch> release, bool wake)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(release);
        int n = batch.Count;
        if (n == 0) return false;
        if (Interlocked.Add(ref _queuedDatagrams, n) > _options.InboxCapacity || _completion.Task.IsCompleted)
        {
            Interlocked.Add(ref _queuedDatagrams, -n);
            return false;
        }
        if (!TryEnqueue(new WorkItem(ItemKind.Batch, null, n, default, release, batch), wake))
        {
            Interlocked.Add(ref _queuedDatagrams, -n);
            return false;
        }
        return true;
    }

    /// <summary>
    /// On the loop only: a used receive buffer. Pool-sized ones are collected without a lock and go back to the
    /// free list in the next drain's lock acquisition (see <see cref="GiveBackUsedLocked"/>).
    /// </summary>
    private void ReturnBuffer(byte[] buffer)
    {
        if (buffer.Length == TinyBufferSize)
        {
            _usedTiny.Push(buffer);
            _keepsReceiveBuffers = true;
            return;
        }
        if (buffer.Length == PoolBufferSize)
        {
            _usedBuffers.Push(buffer);
            _keepsReceiveBuffers = true; // (before this pass's Arm: the release is armed for it)
            return;
        }
        if (buffer.Length == _largeBufferSize)
        {
            _usedLarge.Push(buffer);
            _keepsReceiveBuffers = true;
            return;
        }
        ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Under <see cref="_gate"/>: a receive buffer the free list could not serve.</summary>
    private byte[] AllocateReceiveBufferLocked(int size)
    {
        _receiveBuffersAllocated++;
        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Under <see cref="_gate"/>, on the loop: moves the buffers the loop used since its last drain to the free list (bounded).</summary>
    private void GiveBackUsedLocked()
    {
        while (_usedTiny.TryPop(out var t))
        {
            if (_freeTiny.Count < _maxFreeTiny) _freeTiny.Push(t);
            else _receiveBuffersDiscarded++;
        }
        while (_usedBuffers.TryPop(out var b))
        {
            if (_freeBuffers.Count < MaxFreeBuffers) _freeBuffers.Push(b);
            else _receiveBuffersDiscarded++;
        }
        while (_usedLarge.TryPop(out var l))
        {
            if (_freeLarge.Count < _maxFreeLarge) _freeLarge.Push(l);
            else _receiveBuffersDiscarded++;
        }
    }

    /// <summary>
    /// Under <see cref="_gate"/>, on the loop, before it waits: empties the free lists once the loop has received nothing for
    /// <see cref="ReceiveBufferIdleRelease"/> (an idle loop holds no receive buffers; a busy one keeps them across its waits).
    /// </summary>
    private void ReleaseIdleReceiveBuffersLocked(TimeSpan now)
    {
        if (!_keepsReceiveBuffers || now - _lastReceive < ReceiveBufferIdleRelease) return;
        _keepsReceiveBuffers = false;
        _receiveBufferReleases++;
        _freeTiny.Clear();
        _freeTiny.TrimExcess();
        _freeBuffers.Clear();
        _freeBuffers.TrimExcess();
        _freeLarge.Clear();
        _freeLarge.TrimExcess();
    }

    /// <summary>
    /// Tests and benches: the receive free lists — buffers on them now (tiny, small, large), buffers allocated because a list was
    /// empty, used buffers dropped because a list was full, times the lists were emptied for idleness.
    /// </summary>
    internal (int FreeTiny, int FreeSmall, int FreeLarge, long Allocated, long Discarded, long IdleReleases) ReceiveBufferStats
    {
        get
        {
            lock (_gate) return (_freeTiny.Count, _freeBuffers.Count, _freeLarge.Count, _receiveBuffersAllocated, _receiveBuffersDiscarded, Volatile.Read(ref _receiveBufferReleases));
        }
    }

    /// <summary>
    /// Wakes the loop if it waits for input that was queued with <see cref="TryQueueDatagram"/>,
    /// <see cref="TryQueueBatch"/> or <see cref="TryQueue(Action{TimeSpan})"/>. With <paramref name="inline"/> the loop's next pass — receive, timers, flush
    /// of what the input made the core send — runs on the calling thread before this returns (the socket's
    /// receive task calls it this way when the batch went to one connection: no thread-pool hop between receiving
    /// a datagram and sending its answer); otherwise the pass is queued to the thread pool as for any other input.
    /// Does nothing when the loop is already running (it finds the queued input before it waits again).
    /// From the loop itself it does nothing (the loop is running). Must not be called with locks held that the loop's event handler takes.
    /// </summary>
    public void Wake(bool inline)
    {
        bool signal;
        lock (_gate) signal = _ringCount > 0 && TakeWaiterLocked();
        if (!signal) return;
        if (inline) Interlocked.Increment(ref _inlineWakeups);
        _waker.Signal(inline);
    }

    /// <summary>Under <see cref="_gate"/>: true (and the loop no longer counts as waiting) when the loop waits and must be signalled.</summary>
    private bool TakeWaiterLocked()
    {
        bool waiting = _loopWaiting;
        _loopWaiting = false;
        return waiting;
    }

    /// <summary>Under <see cref="_gate"/>: appends to the ring (grows by doubling when full).</summary>
    private void AppendLocked(in WorkItem item)
    {
        if (_ringCount == _ring.Length)
        {
            var bigger = new WorkItem[_ring.Length * 2];
            for (int i = 0; i < _ringCount; i++) bigger[i] = _ring[(_ringHead + i) % _ring.Length];
            _ring = bigger;
            _ringHead = 0;
        }
        _ring[(_ringHead + _ringCount) % _ring.Length] = item;
        _ringCount++;
    }

    /// <summary>Appends to the inbox and (with <paramref name="wake"/>) wakes the loop if it waits; false once the inbox is closed.</summary>
    private bool TryEnqueue(in WorkItem item, bool wake = true)
    {
        bool signal = false;
        lock (_gate)
        {
            if (_inboxClosed) return false;
            AppendLocked(item);
            if (wake) signal = TakeWaiterLocked();
        }
        if (signal) _waker.Signal(inline: false);
        return true;
    }

    /// <summary>Moves up to <see cref="DrainChunk"/> items into <see cref="_drain"/>; the count.</summary>
    private int DrainInbox()
    {
        lock (_gate)
        {
            GiveBackUsedLocked();
            int n = Math.Min(_ringCount, DrainChunk);
            if (n > _drain.Length) _drain = new WorkItem[Math.Min(DrainChunk, Math.Max(n, _drain.Length * 2))];
            for (int i = 0; i < n; i++)
            {
                ref var slot = ref _ring[_ringHead];
                _drain[i] = slot;
                slot = default;
                _ringHead = (_ringHead + 1) % _ring.Length;
            }
            _ringCount -= n;
            return n;
        }
    }

    /// <summary>Closes the inbox (further enqueues fail) and wakes the loop so it can finish.</summary>
    private void CloseInbox()
    {
        bool wake;
        lock (_gate)
        {
            _inboxClosed = true;
            wake = TakeWaiterLocked();
        }
        if (wake) _waker.Signal(inline: false);
    }

    /// <summary>
    /// True when the loop must wait for input: the waker is armed (its token in <paramref name="version"/>) and
    /// the next enqueue or the close signals it; <paramref name="now"/> (loop clock) decides whether idle receive buffers
    /// go back. Only the loop calls it.
    /// </summary>
    private bool ArmWait(TimeSpan now, out short version)
    {
        lock (_gate)
        {
            GiveBackUsedLocked();
            version = 0;
            if (_ringCount > 0 || _inboxClosed) return false;
            ReleaseIdleReceiveBuffersLocked(now);
            _loopWaiting = true;
            version = _waker.Arm();
            return true;
        }
    }

    /// <summary>
    /// Queues <paramref name="action"/> to run on the loop with the current <c>now</c>; false when the loop has
    /// stopped. An exception thrown by <paramref name="action"/> fails the loop (see <see cref="Completion"/>);
    /// an action still queued when the loop stops is not run. Allocates nothing (pass a cached delegate).
    /// </summary>
    public bool Post(Action<TimeSpan> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return !_completion.Task.IsCompleted && TryEnqueue(new WorkItem(ItemKind.Action, null, 0, default, action, null));
    }

    /// <summary>
    /// Like <see cref="Post(Action{TimeSpan})"/> but does not wake the loop: the caller queues its work this way and then
    /// calls <see cref="Wake"/> (with inline, an idle loop's pass — this action, timers, the flush of what the action made
    /// the core send — runs on the calling thread). Allocates nothing: a struct entry in the loop's inbox, no task, no
    /// closure when <paramref name="action"/> is a cached delegate. False when the loop has stopped (the action never runs).
    /// Safe from any thread, also from the loop itself (the loop runs the action in its next drain).
    /// </summary>
    public bool TryQueue(Action<TimeSpan> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return !_completion.Task.IsCompleted && TryEnqueue(new WorkItem(ItemKind.Action, null, 0, default, action, null), wake: false);
    }

    /// <summary>
    /// <see cref="TryQueue(Action{TimeSpan})"/> with a state object for <paramref name="action"/>: one cached delegate
    /// serves every call (no closure per call). The loop runs <c>action(state, now)</c>.
    /// </summary>
    public bool TryQueue(Action<object?, TimeSpan> action, object? state)
    {
        ArgumentNullException.ThrowIfNull(action);
        return !_completion.Task.IsCompleted && TryEnqueue(new WorkItem(ItemKind.StateAction, null, 0, default, action, state), wake: false);
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the loop and returns its result once the core's output that the
    /// action caused has been handed to the sender. An exception from <paramref name="action"/> goes to the
    /// caller (the loop keeps running); a stopped loop gives <see cref="ObjectDisposedException"/>, a loop
    /// that fails in the same pass gives the loop's exception. Allocates one object per call (the task's source,
    /// which is also the inbox entry's callback); for work without a result use <see cref="TryQueue(Action{TimeSpan})"/>.
    /// </summary>
    public Task<T> InvokeAsync<T>(Func<TimeSpan, T> action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var invocation = new Invocation<T>(action, null, cancellationToken);
        if (!Invoke(invocation)) return Task.FromException<T>(Stopped());
        return invocation.Task;
    }

    /// <summary>Runs <paramref name="action"/> on the loop; the core's output is flushed afterwards.</summary>
    public Task InvokeAsync(Action<TimeSpan> action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
        var invocation = new Invocation<bool>(null, action, cancellationToken);
        if (!Invoke(invocation)) return Task.FromException(Stopped());
        return invocation.Task;
    }

    private bool Invoke(IInvocation invocation)
    {
        if (_completion.Task.IsCompleted || !TryEnqueue(new WorkItem(ItemKind.Invocation, null, 0, default, invocation, null), wake: !_runPassOnCaller))
            return false;
        if (_runPassOnCaller) Wake(inline: true);
        return true;
    }

    private ObjectDisposedException Stopped() => new(_options.Name, "the loop has stopped");

    private void OnTimer()
    {
        if (Interlocked.Exchange(ref _timerQueued, 1) != 0) return;
        // The timer's callback already runs on a pool thread: with RunPassOnCaller the pass runs right here (one hop fewer).
        if (TryEnqueue(new WorkItem(ItemKind.Timer, null, 0, default, null, null), wake: !_runPassOnCaller) && _runPassOnCaller) Wake(inline: true);
    }

    private async Task RunAsync()
    {
        try
        {
            while (true)
            {
                var waitNow = _clock.Now;
                if (ArmWait(waitNow, out short version))
                {
                    // An idle loop holds no send slots (issue 13: 64 KiB per idle connection; a QUIC loop's are 512 KiB) — but
                    // a busy one keeps them across its short waits: given back and rented on every wait, the 512 KiB array
                    // missed ArrayPool.Shared now and then and was allocated anew (issue 14). The loop's timer comes back
                    // for them SendBufferIdleRelease after the last send (see Arm).
                    // Only a loop that keeps sending (KeepSendSlotsAfter passes that sent, within SendBufferIdleRelease of
                    // each other) holds them: a handshake that goes nowhere — thousands in a flood — gives them back at once.
                    if (_sendBatch.HasBuffer && !KeepsSendSlots(waitNow)) _sendBatch.ReleaseBuffer();
                    await new ValueTask<bool>(_waker, version).ConfigureAwait(false);
                    _wakeups++;
                    continue;
                }
                if (_stop.IsCancellationRequested) break;
                int n = DrainInbox();
                if (n == 0) break; // closed and empty
                _drains++;
                _itemsDrained += n;
                var now = _clock.Now;
                for (int i = 0; i < n; i++)
                {
                    var item = _drain[i];
                    _drain[i] = default;
                    switch (item.Kind)
                    {
                        case ItemKind.Datagram:
                            _lastReceive = now;
                            Interlocked.Decrement(ref _queuedDatagrams);
                            try { _core.Receive(item.Buffer.AsSpan(0, item.Length), item.Path, now); }
                            finally { ReturnBuffer(item.Buffer!); }
                            break;
                        case ItemKind.Batch:
                            var batch = (DatagramBatch)item.State!;
                            _lastReceive = now;
                            Interlocked.Add(ref _queuedDatagrams, -item.Length);
                            try
                            {
                                for (int k = 0; k < item.Length; k++) _core.Receive(batch[k], batch.PathAt(k), now);
                            }
                            finally { ((Action<DatagramBatch>)item.Callback!)(batch); }
                            break;
                        case ItemKind.Action:
                            ((Action<TimeSpan>)item.Callback!)(now);
                            break;
                        case ItemKind.StateAction:
                            ((Action<object?, TimeSpan>)item.Callback!)(item.State, now);
                            break;
                        case ItemKind.Invocation:
                            var invocation = (IInvocation)item.Callback!;
                            if (invocation.Run(now)) _afterService.Add(invocation); // completed after the flush below
                            break;
                        default: // ItemKind.Timer
                            Volatile.Write(ref _timerQueued, 0);
                            _armedFor = null;
                            _releaseTimerFired = _armedForRelease;
                            _armedForRelease = false;
                            _timerFired = true;
                            break;
                    }
                }
                Service();
                CompleteInvokes(null);
            }
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
            CloseInbox();
            await _timer.DisposeAsync().ConfigureAwait(false);
            // What is still queued never reaches the stopped core: buffers go back, InvokeAsync callers see the stop.
            AbortQueued();
            _sendBatch.Clear(); // (a batch the failed sender left behind)
            _sendBatch.ReleaseBuffer();
        }
    }

    /// <summary>Drops what is still queued (the inbox is closed): buffers go back, InvokeAsync callers see the stop.</summary>
    private void AbortQueued()
    {
        // First what the last pass took from the inbox but never reached: a loop that fails on one item stops in the
        // middle of its drain chunk. Without this an InvokeAsync call queued behind the failing item was neither run nor
        // failed, and its caller waited forever (a CompleteWrites that threw, then OpenOutboundStreamAsync: session 16).
        for (int i = 0; i < _drain.Length; i++)
        {
            var item = _drain[i];
            _drain[i] = default;
            AbortItem(item);
        }
        int n;
        while ((n = DrainInbox()) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                var item = _drain[i];
                _drain[i] = default;
                AbortItem(item);
            }
        }
    }

    private void AbortItem(in WorkItem item)
    {
        switch (item.Kind)
        {
            case ItemKind.Datagram: if (item.Buffer is not null) ReturnBuffer(item.Buffer); break;
            case ItemKind.Batch: ((Action<DatagramBatch>)item.Callback!)((DatagramBatch)item.State!); break;
            case ItemKind.Invocation: ((IInvocation)item.Callback!).Complete(Stopped()); break;
        }
    }

    private void CompleteInvokes(Exception? fault)
    {
        if (_afterService.Count == 0) return;
        foreach (var invocation in _afterService) invocation.Complete(fault);
        _afterService.Clear();
    }

    /// <summary>Fires due deadlines, flushes transmits and events, and re-arms the timer (bounded passes).</summary>
    private void Service()
    {
        for (int pass = 0; pass < 64; pass++)
        {
            var now = _clock.Now;
            if (_core.NextDeadline is { } due && due <= now) _core.HandleDeadline(now);
            else if (_timerFired && pass == 0 && !_releaseTimerFired) _earlyTimerPasses++;
            _releaseTimerFired = false;
            _timerFired = false;
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
            _transmits++;
            if (_sendBatch.IsFull) SendBatch();
        }
        if (_sendBatch.Count > 0) SendBatch();
        if (total > 0)
        {
            if (now - _lastSend >= SendBufferIdleRelease) _sendingPasses = 0;
            else if (_sendingPasses < KeepSendSlotsAfter) _sendingPasses++;
            _lastSend = now;
        }
        return total >= _options.MaxTransmitsPerPass;
    }

    private void SendBatch()
    {
        _sendBatches++;
        try { _sender.Send(_sendBatch); }
        finally { _sendBatch.Clear(); }
    }

    private void Arm(TimeSpan? deadline)
    {
        bool forRelease = false;
        var now = _clock.Now;
        if (ReleaseDue(now) is { } release && (deadline is null || release < deadline))
        {
            // The loop keeps its send slots across short waits; the timer comes back for them when it has not sent for
            // SendBufferIdleRelease (the wait after that pass gives them back). Likewise for its free receive buffers
            // (ReceiveBufferIdleRelease after its last received datagram).
            // An earlier release arm still pending will do (its pass finds the slots used since and re-arms): sends do
            // not re-program the timer on every pass, at most about once per SendBufferIdleRelease.
            if (_armedForRelease && _armedFor is { } armed && armed > now && armed <= release) return;
            forRelease = true;
            deadline = release;
        }
        _armedForRelease = forRelease;
        if (deadline == _armedFor) return;
        _armedFor = deadline;
        _timerChanges++;
        if (deadline is not { } d)
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var delay = d - now;
        if (delay < TimeSpan.Zero) delay = TimeSpan.Zero;
        else if (_wholeMilliseconds && delay.Ticks % TimeSpan.TicksPerMillisecond != 0)
            delay = TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds)); // see _wholeMilliseconds
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// The next time after <paramref name="now"/> at which the loop gives back something it keeps across waits (send
    /// slots, free receive buffers) unless it is busy again by then; null: nothing to come back for (what is due already
    /// goes back at the wait right after this pass).
    /// </summary>
    private TimeSpan? ReleaseDue(TimeSpan now)
    {
        TimeSpan? due = null;
        if (_sendBatch.HasBuffer && !ReleaseSendSlotsAtEveryWait && _sendingPasses >= KeepSendSlotsAfter && _lastSend + SendBufferIdleRelease > now)
            due = _lastSend + SendBufferIdleRelease;
        if (_keepsReceiveBuffers && _lastReceive + ReceiveBufferIdleRelease > now)
        {
            var receive = _lastReceive + ReceiveBufferIdleRelease;
            if (due is not { } d || receive < d) due = receive;
        }
        return due;
    }

    /// <summary>
    /// The system timer counts whole milliseconds and truncates: a deadline 0.4 ms away fired at once, found nothing due
    /// and re-armed (again at once) until the deadline passed — issue 14's "early timer passes". With the system clock the
    /// delay is rounded up to whole milliseconds (a deadline is met ≤ 1 ms late instead of spun on); a test clock keeps
    /// exact delays. <c>OSPBRIDGE_TIMER=exact</c> restores truncation (A/B).
    /// </summary>
    private readonly bool _wholeMilliseconds;

    private static readonly bool ExactTimer = Environment.GetEnvironmentVariable("OSPBRIDGE_TIMER") == "exact";

    /// <summary>See <see cref="CoreLoopOptions.RunPassOnCaller"/>; <c>OSPBRIDGE_LOOP_INLINE=0</c> turns it off for A/B.</summary>
    private readonly bool _runPassOnCaller;

    private static readonly bool PassOnCallerOff = Environment.GetEnvironmentVariable("OSPBRIDGE_LOOP_INLINE") == "0";

    /// <summary>Stops the loop (the core is left as it is; close it through <see cref="InvokeAsync(Action{TimeSpan}, CancellationToken)"/> first for a graceful end).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        CloseInbox();
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            // Never started: nothing runs the inbox, so release it here.
            AbortQueued();
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

    /// <summary>
    /// The loop's one reusable wait: armed by the loop under the inbox lock, signalled by whoever enqueues into
    /// an empty inbox; the loop's continuation runs on the thread pool, or — <see cref="Wake"/> with inline — on
    /// the signalling thread (only one thread signals a given arm: the one that cleared <c>_loopWaiting</c>).
    /// </summary>
    private sealed class Waker : IValueTaskSource<bool>
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

        public short Arm()
        {
            _core.Reset();
            return _core.Version;
        }

        public void Signal(bool inline)
        {
            _core.RunContinuationsAsynchronously = !inline;
            _core.SetResult(true);
        }

        public bool GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    private enum ItemKind : byte
    {
        Timer,       // a timer expiry (no payload)
        Datagram,    // Buffer[0..Length] from Path; Buffer goes back to the free list
        Batch,       // State: a received DatagramBatch of Length datagrams, given back through Callback (Action<DatagramBatch>)
        Action,      // Callback: Action<TimeSpan>
        StateAction, // Callback: Action<object?, TimeSpan>, called with State
        Invocation,  // Callback: an IInvocation (InvokeAsync)
    }

    /// <summary>One inbox entry (a struct in the ring: queueing allocates nothing); what the fields mean depends on <see cref="ItemKind"/>.</summary>
    private readonly record struct WorkItem(ItemKind Kind, byte[]? Buffer, int Length, DatagramPath Path, object? Callback, object? State);

    /// <summary>An <see cref="InvokeAsync{T}"/> call: run on the loop, completed after the pass's flush (or failed when the loop stops).</summary>
    private interface IInvocation
    {
        /// <summary>On the loop: runs the call; true when it must be completed after the flush (false: already completed, e.g. cancelled).</summary>
        bool Run(TimeSpan now);

        /// <summary>Completes the call: with its result or exception when <paramref name="fault"/> is null, else with the loop's fault.</summary>
        void Complete(Exception? fault);
    }

    /// <summary>
    /// One object per <see cref="InvokeAsync{T}"/> call: the task's source, the inbox entry's callback and the result
    /// holder (before: a task source, two closures and four delegates per call).
    /// </summary>
    private sealed class Invocation<T> : TaskCompletionSource<T>, IInvocation
    {
        private const int Queued = 0, Started = 1, Cancelled = 2;
        private readonly Func<TimeSpan, T>? _func;
        private readonly Action<TimeSpan>? _action;
        private readonly CancellationToken _cancellationToken;
        private readonly CancellationTokenRegistration _registration;
        private int _state;
        private T? _result;
        private Exception? _error;

        public Invocation(Func<TimeSpan, T>? func, Action<TimeSpan>? action, CancellationToken cancellationToken)
            : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
            _func = func;
            _action = action;
            _cancellationToken = cancellationToken;
            // The caller's token ends the wait while the call is still queued (it has not run, so nothing is lost): a
            // loop that is busy, stalled or gone never holds a cancellable caller beyond its token.
            if (cancellationToken.CanBeCanceled)
                _registration = cancellationToken.UnsafeRegister(static s => ((Invocation<T>)s!).CancelIfQueued(), this);
        }

        private void CancelIfQueued()
        {
            if (Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued) TrySetCanceled(_cancellationToken);
        }

        public bool Run(TimeSpan now)
        {
            if (Interlocked.CompareExchange(ref _state, Started, Queued) != Queued) return false; // cancelled while queued
            if (_cancellationToken.IsCancellationRequested) { TrySetCanceled(_cancellationToken); _registration.Dispose(); return false; }
            try
            {
                if (_func is not null) _result = _func(now);
                else { _action!(now); _result = default; }
            }
            catch (Exception ex)
            {
                _error = ex;
            }
            return true;
        }

        public void Complete(Exception? fault)
        {
            _registration.Dispose();
            if (fault is not null) TrySetException(_error ?? fault);
            else if (_error is not null) TrySetException(_error);
            else TrySetResult(_result!);
        }
    }
}

/// <summary>Diagnostic counters of a <see cref="CoreLoop{TEvent}"/>.</summary>
/// <param name="Wakeups">Times the loop resumed after waiting for input.</param>
/// <param name="Drains">Inbox drains (each followed by one service pass over the core).</param>
/// <param name="ItemsDrained">Datagrams, actions and timer ticks taken from the inbox.</param>
/// <param name="SendBatches">Batches handed to the sender.</param>
/// <param name="Transmits">Datagrams the core produced.</param>
/// <param name="InlineWakeups">Wake-ups whose pass ran on the thread that queued the input (<see cref="CoreLoop{TEvent}.Wake"/> inline: no thread-pool hop).</param>
/// <param name="TimerChanges">Times the loop re-programmed its timer (every change of the core's next deadline).</param>
/// <param name="EarlyTimerPasses">Passes after the timer fired that found no deadline due yet: the runtime's timers work in whole
/// milliseconds and may fire up to one early, or the core's deadline moved later after the timer was armed.</param>
public readonly record struct CoreLoopCounters(long Wakeups, long Drains, long ItemsDrained, long SendBatches, long Transmits, long InlineWakeups = 0, long TimerChanges = 0, long EarlyTimerPasses = 0);
