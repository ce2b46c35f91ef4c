using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary><see cref="CoreLoop{TEvent}"/> over the toy <see cref="PingPongCore"/>: real loopback sockets and a fake clock.</summary>
public sealed class CoreLoopTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A socket, its receive task and a loop over a ping-pong core.</summary>
    private sealed class Peer : IAsyncDisposable
    {
        public readonly PingPongCore Core = new();
        public readonly IDatagramSocket Socket;
        public readonly CoreLoop<PingEvent> Loop;
        public readonly ConcurrentQueue<PingEvent> Events = new();
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _receive;
        private readonly SemaphoreSlim _signal = new(0);

        public Peer(IDatagramSocketFactory factory, CoreLoopOptions? options = null)
        {
            Socket = factory.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
            Loop = new CoreLoop<PingEvent>(Core, Socket, e => { Events.Enqueue(e); _signal.Release(); }, options);
            Loop.Start();
            _receive = DatagramReceiver.RunAsync(Socket, (d, p) => Loop.TryPostDatagram(d, p), cancellationToken: _cts.Token);
        }

        public IPEndPoint EndPoint => Socket.LocalEndPoint;

        public async Task WaitForAsync(Func<IEnumerable<PingEvent>, bool> condition)
        {
            using var timeout = new CancellationTokenSource(Wait);
            while (!condition(Events)) await _signal.WaitAsync(timeout.Token);
        }

        public async ValueTask DisposeAsync()
        {
            await Loop.DisposeAsync();
            await _cts.CancelAsync();
            Socket.Dispose();
            await _receive.WaitAsync(Wait);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PingPong_OverLoopbackUdp_DeliversEventsAndTransmits(bool batched)
    {
        var factory = batched ? UdpSocketFactory.Default : UdpSocketFactory.Portable;
        await using var a = new Peer(factory);
        await using var b = new Peer(factory);
        const int count = 200;
        await a.Loop.InvokeAsync(_ => { for (int i = 0; i < count; i++) a.Core.SendPing(i, b.EndPoint); }, CancellationToken.None);

        await a.WaitForAsync(ev => ev.OfType<PingEvent.Ponged>().Count() >= count);
        await b.WaitForAsync(ev => ev.OfType<PingEvent.Pinged>().Count() >= count);

        Assert.Equal(Enumerable.Range(0, count), a.Events.OfType<PingEvent.Ponged>().Select(p => p.N).Order());
        var pinged = b.Events.OfType<PingEvent.Pinged>().ToList();
        Assert.Equal(Enumerable.Range(0, count), pinged.Select(p => p.N).Order());
        Assert.All(pinged, p => Assert.Equal(a.EndPoint, p.Path.Remote));
        Assert.All(pinged, p => Assert.Equal(IPAddress.Loopback, p.Path.Local!.Address));
        Assert.All(a.Events.OfType<PingEvent.Ponged>(), p => Assert.Equal(b.EndPoint, p.Path.Remote));
        Assert.Equal(0, a.Loop.DroppedDatagrams);
        Assert.Equal(0, b.Loop.DroppedDatagrams);
    }

    [Fact]
    public async Task InvokeAsync_ReturnsResult_PropagatesActionException_AndHonoursCancellation()
    {
        await using var a = new Peer(UdpSocketFactory.Default);
        int received = await a.Loop.InvokeAsync(now => a.Core.Received + 41, CancellationToken.None);
        Assert.Equal(41, received);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => a.Loop.InvokeAsync<int>(_ => throw new ArgumentException("caller error"), CancellationToken.None));
        Assert.Equal("caller error", ex.Message);
        // An exception thrown by an invoked action is the caller's, not the loop's: the loop keeps running.
        Assert.False(a.Loop.Completion.IsCompleted);
        Assert.Equal(7, await a.Loop.InvokeAsync(_ => 7, CancellationToken.None));

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.Loop.InvokeAsync(_ => 1, cancelled.Token));
    }

    [Fact]
    public async Task FaultInCore_FaultsCompletion_AndLaterInputIsRefused()
    {
        await using var a = new Peer(UdpSocketFactory.Default);
        a.Core.ThrowOn = "boom";
        Assert.True(a.Loop.TryPostDatagram("boom"u8, DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9))));

        var fault = await Assert.ThrowsAsync<InvalidOperationException>(() => a.Loop.Completion.WaitAsync(Wait, CancellationToken.None));
        Assert.Equal("core bug (test)", fault.Message);
        Assert.False(a.Loop.TryPostDatagram("ping:1"u8, DatagramPath.None));
        Assert.False(a.Loop.Post(_ => { }));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => a.Loop.InvokeAsync(_ => 1, CancellationToken.None));
    }

    [Fact]
    public async Task FaultInEventHandler_FaultsCompletion()
    {
        using var socket = UdpSocketFactory.Default.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, socket, _ => throw new FormatException("handler bug"));
        loop.Start();
        // The invoke whose service pass failed sees the loop's exception, and so does Completion.
        await Assert.ThrowsAsync<FormatException>(() => loop.InvokeAsync(_ => core.Deadline = TimeSpan.Zero, CancellationToken.None));
        await Assert.ThrowsAsync<FormatException>(() => loop.Completion.WaitAsync(Wait, CancellationToken.None));
    }

    [Fact]
    public async Task DisposeAsync_EndsTheLoop_AndFailsPendingInvokes()
    {
        var a = new Peer(UdpSocketFactory.Default);
        await a.Loop.InvokeAsync(_ => { }, CancellationToken.None);
        await a.DisposeAsync();
        Assert.True(a.Loop.Completion.IsCompletedSuccessfully);
        Assert.False(a.Loop.Post(_ => { }));
        Assert.False(a.Loop.TryPostDatagram("ping:1"u8, DatagramPath.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => a.Loop.InvokeAsync(_ => 1, CancellationToken.None));
        await a.Loop.DisposeAsync(); // idempotent
    }

    [Fact]
    public async Task ActionsQueuedBehindDispose_DoNotRunOnTheStoppedCore()
    {
        var sender = new RecordingSender();
        var core = new PingPongCore();
        var loop = new CoreLoop<PingEvent>(core, sender, _ => { });
        // Not started: items pile up in the inbox, then the loop is disposed without ever running them.
        var pending = loop.InvokeAsync(_ => { core.SendPing(1, new IPEndPoint(IPAddress.Loopback, 9)); return 1; }, CancellationToken.None);
        await loop.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
        Assert.True(loop.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task InboxOverflow_DropsAndCounts()
    {
        var sender = new RecordingSender();
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { }, new CoreLoopOptions { InboxCapacity = 4 });
        var to = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));
        int accepted = 0;
        for (int i = 0; i < 10; i++) if (loop.TryPostDatagram("ping:1"u8, to)) accepted++;
        Assert.Equal(4, accepted);
        Assert.Equal(6, loop.DroppedDatagrams);

        loop.Start();
        Assert.Equal(4, await loop.InvokeAsync(_ => core.Received, CancellationToken.None));
        Assert.Equal(4, sender.Count); // four pongs
        // Room again once the loop has drained the inbox.
        Assert.True(loop.TryPostDatagram("ping:2"u8, to));
        Assert.Equal(6, loop.DroppedDatagrams);
    }

    [Fact]
    public async Task Deadline_FiresExactlyWhenDue_WithFakeTimeProvider()
    {
        var time = new FakeTimeProvider();
        var sender = new RecordingSender();
        var core = new PingPongCore();
        var fired = new TaskCompletionSource<PingEvent.DeadlineFired>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var loop = new CoreLoop<PingEvent>(core, sender, e => { if (e is PingEvent.DeadlineFired d) fired.TrySetResult(d); },
            new CoreLoopOptions { TimeProvider = time });
        loop.Start();
        var ct = CancellationToken.None;

        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(100), ct);
        time.Advance(TimeSpan.FromMilliseconds(99));
        await loop.InvokeAsync(_ => { }, ct); // a round trip through the loop: anything the timer queued ran before it
        Assert.False(fired.Task.IsCompleted);
        Assert.Equal(TimeSpan.FromMilliseconds(100), await loop.InvokeAsync(_ => core.Deadline, ct));

        time.Advance(TimeSpan.FromMilliseconds(1));
        var ev = await fired.Task.WaitAsync(Wait, ct);
        Assert.Equal(TimeSpan.FromMilliseconds(100), ev.Due);
        Assert.Equal(TimeSpan.FromMilliseconds(100), ev.Now);

        // Re-arming after a fire works, and a deadline moved earlier wins over the armed one.
        fired = new TaskCompletionSource<PingEvent.DeadlineFired>(TaskCreationOptions.RunContinuationsAsynchronously);
        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromSeconds(5), ct);
        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(30), ct);
        time.Advance(TimeSpan.FromMilliseconds(30));
        ev = await fired.Task.WaitAsync(Wait, ct);
        Assert.Equal(TimeSpan.FromMilliseconds(130), ev.Now);

        // A cleared deadline never fires.
        fired = new TaskCompletionSource<PingEvent.DeadlineFired>(TaskCreationOptions.RunContinuationsAsynchronously);
        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(10), ct);
        await loop.InvokeAsync(_ => core.Deadline = null, ct);
        time.Advance(TimeSpan.FromSeconds(1));
        await loop.InvokeAsync(_ => { }, ct);
        Assert.False(fired.Task.IsCompleted);
    }

    [Fact]
    public async Task TimerCounters_CountEachReprogramming_And_NoEarlyPass_WhenTheTimerFiresOnTime()
    {
        var time = new FakeTimeProvider();
        var core = new PingPongCore();
        var fired = new TaskCompletionSource<PingEvent.DeadlineFired>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var loop = new CoreLoop<PingEvent>(core, new RecordingSender(), e => { if (e is PingEvent.DeadlineFired d) fired.TrySetResult(d); },
            new CoreLoopOptions { TimeProvider = time });
        loop.Start();
        var ct = CancellationToken.None;
        await loop.InvokeAsync(_ => { }, ct);
        long before = loop.Counters.TimerChanges;

        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(100), ct); // armed: +1
        await loop.InvokeAsync(_ => { }, ct);                                                      // same deadline: +0
        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(50), ct);  // earlier: +1
        await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(80), ct);  // later: +1
        Assert.Equal(before + 3, loop.Counters.TimerChanges);

        time.Advance(TimeSpan.FromMilliseconds(80));
        Assert.Equal(TimeSpan.FromMilliseconds(80), (await fired.Task.WaitAsync(Wait, ct)).Now);
        await loop.InvokeAsync(_ => { }, ct);
        Assert.Equal(0, loop.Counters.EarlyTimerPasses); // the fake clock's timer fires exactly when due

        await loop.InvokeAsync(_ => core.Deadline = null, ct);
        Assert.Equal(before + 3, loop.Counters.TimerChanges); // the fired timer was not armed any more: clearing costs nothing
    }

    [Fact]
    public async Task SystemClock_SubMillisecondDeadlines_FireOnTime_WithoutSpinningOnTheTimer()
    {
        // The system timer counts whole milliseconds; a 0.4 ms delay truncated to 0 fired at once, found nothing due and
        // re-armed at once again until the deadline passed (dozens of early passes per deadline on a quiet machine). The
        // loop rounds system-clock delays up, so an early pass is at most the one the timer's millisecond tick causes.
        const int deadlines = 40;
        var core = new PingPongCore();
        var fired = System.Threading.Channels.Channel.CreateUnbounded<PingEvent.DeadlineFired>();
        await using var loop = new CoreLoop<PingEvent>(core, new RecordingSender(), e => { if (e is PingEvent.DeadlineFired d) fired.Writer.TryWrite(d); });
        loop.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int i = 0; i < deadlines; i++)
        {
            await loop.InvokeAsync(now => core.Deadline = now + TimeSpan.FromMilliseconds(0.4), cts.Token);
            var ev = await fired.Reader.ReadAsync(cts.Token);
            Assert.True(ev.Now >= ev.Due, $"deadline {i} reported at {ev.Now} before it was due at {ev.Due}");
        }
        long early = loop.Counters.EarlyTimerPasses;
        Assert.True(early <= 2 * deadlines, $"{early} early timer passes for {deadlines} sub-millisecond deadlines");
    }

    [Fact]
    public async Task ManyTransmits_AreBatched()
    {
        var sender = new RecordingSender();
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { }, new CoreLoopOptions { SendBatchSize = 8 });
        loop.Start();
        var to = new IPEndPoint(IPAddress.Loopback, 9);
        await loop.InvokeAsync(_ => { for (int i = 0; i < 20; i++) core.SendPing(i, to); }, CancellationToken.None);
        Assert.Equal(20, sender.Count);
        Assert.Equal([8, 8, 4], sender.BatchSizes);
        Assert.Equal("ping:19", sender.Last);
    }

    /// <summary>A sender that records what it was given.</summary>
    internal sealed class RecordingSender : IDatagramSender
    {
        public int Count;
        public List<int> BatchSizes { get; } = [];
        public string? Last;

        public void Send(DatagramBatch batch)
        {
            lock (BatchSizes) BatchSizes.Add(batch.Count);
            for (int i = 0; i < batch.Count; i++) Last = System.Text.Encoding.ASCII.GetString(batch[i]);
            Interlocked.Add(ref Count, batch.Count);
        }
    }
}
