using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 14: work that runs without a thread-pool hop — a loop pass on the thread that asked for it
/// (<see cref="CoreLoopOptions.RunPassOnCaller"/>), receives and timers on the epoll thread
/// (<see cref="UdpSocketOptions.ReceiveOnIoThread"/>, <see cref="CoreLoopOptions.TimersOnIoThread"/>, <see cref="EpollTimeProvider"/>).
/// </summary>
public sealed class IoThreadTests
{
    private const string EpollThreadName = "ospbridge-udp-epoll";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RunPassOnCaller_InvokeOnAnIdleLoop_RunsOnTheCallersThread_AndIsCompleteOnReturn()
    {
        var core = new PingPongCore();
        var sender = new CoreLoopTests.RecordingSender();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { }, new CoreLoopOptions { RunPassOnCaller = true });
        loop.Start();
        var to = new IPEndPoint(IPAddress.Loopback, 9);
        for (int i = 0; i < 20; i++)
        {
            await WaitIdleAsync(loop);
            int caller = Environment.CurrentManagedThreadId;
            var task = loop.InvokeAsync(now => { core.SendPing(i, to); return Environment.CurrentManagedThreadId; });
            // the pass ran before InvokeAsync returned: the action ran here and its ping was already handed to the sender
            Assert.True(task.IsCompletedSuccessfully, $"call {i}: the pass did not run on the caller");
            Assert.Equal(caller, await task);
            Assert.Equal(i + 1, Volatile.Read(ref sender.Count));
        }
        Assert.True(loop.Counters.InlineWakeups >= 20, $"inline wake-ups {loop.Counters.InlineWakeups}");
    }

    [Fact]
    public async Task RunPassOnCaller_Off_TheCallerDoesNotRunThePass()
    {
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { });
        loop.Start();
        await WaitIdleAsync(loop);
        await loop.InvokeAsync(_ => { });
        Assert.Equal(0, loop.Counters.InlineWakeups);
    }

    [Fact]
    public async Task TimersOnIoThread_DeadlinesFireOnTheEpollThread_NeverEarly()
    {
        if (!EpollReadiness.IsSupported) Assert.Fail("needs 64-bit Linux (epoll, timerfd): this test tier runs on Linux only");
        const int deadlines = 40;
        var core = new PingPongCore();
        var fired = System.Threading.Channels.Channel.CreateUnbounded<(PingEvent.DeadlineFired Event, string? Thread)>();
        await using var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(),
            e => { if (e is PingEvent.DeadlineFired d) fired.Writer.TryWrite((d, Thread.CurrentThread.Name)); },
            new CoreLoopOptions { TimersOnIoThread = true, RunPassOnCaller = true });
        loop.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int i = 0; i < deadlines; i++)
        {
            // sub-millisecond and a few milliseconds: timerfd keeps nanoseconds, so neither is rounded nor fires early
            var delay = TimeSpan.FromMilliseconds(i % 2 == 0 ? 0.4 : 3);
            await loop.InvokeAsync(now => core.Deadline = now + delay, cts.Token);
            var (ev, thread) = await fired.Reader.ReadAsync(cts.Token);
            Assert.True(ev.Now >= ev.Due, $"deadline {i} reported at {ev.Now} before it was due at {ev.Due}");
            // a 0.4 ms deadline may already be due before the pass that set it ends (then that pass, on this thread, fires
            // it); a 3 ms one is always the timer's
            if (delay.TotalMilliseconds > 1) Assert.Equal(EpollThreadName, thread);
        }
        Assert.Equal(0, loop.Counters.EarlyTimerPasses);
    }

    [Fact]
    public async Task EpollTimer_FiresOnce_Rearms_Disarms_Repeats_AndStopsWhenDisposed()
    {
        var provider = EpollTimeProvider.TryGet();
        Assert.NotNull(provider);
        int count = 0;
        string? thread = null;
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var timer = provider!.CreateTimer(_ => { thread = Thread.CurrentThread.Name; Interlocked.Increment(ref count); first.TrySetResult(); },
            null, TimeSpan.FromMilliseconds(5), Timeout.InfiniteTimeSpan);
        await first.Task.WaitAsync(Wait);
        await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref count)); // one-shot
        Assert.Equal(EpollThreadName, thread);

        // due time zero means "now" (timerfd would take a zero as "disarm")
        Assert.True(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        await WaitForAsync(() => Volatile.Read(ref count) == 2, "a zero due time never fired");

        // re-armed far out, then disarmed: never fires
        Assert.True(timer.Change(TimeSpan.FromMilliseconds(30), Timeout.InfiniteTimeSpan));
        Assert.True(timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        await Task.Delay(100);
        Assert.Equal(2, Volatile.Read(ref count));

        // periodic
        Assert.True(timer.Change(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)));
        await WaitForAsync(() => Volatile.Read(ref count) >= 6, "a periodic timer did not repeat");

        // disposed: no more callbacks, Change refused
        timer.Dispose();
        int atDispose = Volatile.Read(ref count);
        await Task.Delay(60);
        Assert.InRange(Volatile.Read(ref count), atDispose, atDispose + 1); // at most one already on its way
        Assert.False(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public async Task ReceiveOnIoThread_TheReceiversContinuationRunsOnTheEpollThread()
    {
        if (!BatchedUdpSocket.IsSupported) Assert.Fail("needs 64-bit Linux (batched sockets): this test tier runs on Linux only");
        using var rx = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), ReceiveOnIoThread = true });
        using var plain = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        using var tx = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        Assert.Equal(EpollThreadName, await ReceiveOneAsync(rx, tx));
        Assert.NotEqual(EpollThreadName, await ReceiveOneAsync(plain, tx)); // not opted in: the thread pool as before
    }

    /// <summary>Starts a receive that has to wait, sends one datagram, and returns the name of the thread the receive resumed on.</summary>
    private static async Task<string?> ReceiveOneAsync(BatchedUdpSocket rx, BatchedUdpSocket tx)
    {
        var batch = new DatagramBatch(4, 2048);
        using var cts = new CancellationTokenSource(Wait);
        var pending = Receive();
        await Task.Delay(50); // let the receive find the socket empty and wait
        var send = new DatagramBatch(1, 2048);
        "hello"u8.CopyTo(send.NextSlot);
        send.Commit(5, DatagramPath.To(rx.LocalEndPoint));
        tx.Send(send);
        return await pending.WaitAsync(Wait);

        async Task<string?> Receive()
        {
            int n = await rx.ReceiveAsync(batch, cts.Token).ConfigureAwait(false);
            Assert.Equal(1, n);
            return Thread.CurrentThread.Name;
        }
    }

    private static async Task WaitIdleAsync<T>(CoreLoop<T> loop)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (!loop.IsWaitingForInput) await Task.Delay(1, cts.Token);
    }

    private static async Task WaitForAsync(Func<bool> condition, string failure)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (!condition())
        {
            if (cts.IsCancellationRequested) Assert.Fail(failure);
            await Task.Delay(2);
        }
    }
}
