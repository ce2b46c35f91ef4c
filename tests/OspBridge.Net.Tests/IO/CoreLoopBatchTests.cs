using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary><see cref="CoreLoop{TEvent}.TryPostBatch"/>: a received batch handed to the loop whole, without copies.</summary>
public sealed class CoreLoopBatchTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly DatagramPath From = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));

    private static DatagramBatch Pings(int first, int count)
    {
        var batch = new DatagramBatch(32, 64);
        for (int i = first; i < first + count; i++) Assert.True(batch.TryAdd(System.Text.Encoding.ASCII.GetBytes($"ping:{i}"), From));
        return batch;
    }

    [Fact]
    public async Task Batch_ReachesTheCoreInOrder_ThenIsReleasedOnce_OnTheLoop()
    {
        var sender = new CoreLoopTests.RecordingSender();
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { });
        loop.Start();
        var batch = Pings(0, 20);
        var released = new TaskCompletionSource<(DatagramBatch Batch, int Received)>(TaskCreationOptions.RunContinuationsAsynchronously);
        int releases = 0;
        Assert.True(loop.TryPostBatch(batch, b => { Interlocked.Increment(ref releases); released.TrySetResult((b, core.Received)); }));
        var (back, receivedAtRelease) = await released.Task.WaitAsync(Wait);
        Assert.Same(batch, back);
        Assert.Equal(20, receivedAtRelease); // released only after the core saw all of them
        Assert.Equal(20, await loop.InvokeAsync(_ => core.Received, CancellationToken.None));
        Assert.Equal(20, sender.Count); // a pong for each ping, the last one for ping:19
        Assert.Equal("pong:19", sender.Last);
        Assert.Equal(1, releases);
        Assert.Equal(0, loop.DroppedDatagrams);
        var c = loop.Counters;
        Assert.True(c.ItemsDrained >= 2 && c.Transmits == 20, $"counters {c}");
    }

    [Fact]
    public async Task Batch_OverTheInboxCapacity_IsRefused_AndStaysWithTheCaller()
    {
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { }, new CoreLoopOptions { InboxCapacity = 8 });
        int releases = 0;
        Assert.True(loop.TryPostBatch(Pings(0, 6), _ => releases++));
        Assert.False(loop.TryPostBatch(Pings(6, 6), _ => releases++)); // 12 > 8: not taken, not released
        Assert.False(loop.TryPostBatch(new DatagramBatch(4, 64), _ => releases++)); // empty: nothing to post
        Assert.True(loop.TryPostDatagram("ping:99"u8, From)); // the refused batch did not use up capacity
        loop.Start();
        Assert.Equal(7, await loop.InvokeAsync(_ => core.Received, CancellationToken.None));
        Assert.Equal(1, releases);
    }

    [Fact]
    public async Task Batch_QueuedWhenTheLoopStops_IsReleased_WithoutReachingTheCore()
    {
        var core = new PingPongCore();
        var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { });
        int releases = 0;
        Assert.True(loop.TryPostBatch(Pings(0, 5), _ => releases++)); // never started
        await loop.DisposeAsync();
        Assert.Equal(1, releases);
        Assert.Equal(0, core.Received);
        Assert.False(loop.TryPostBatch(Pings(0, 5), _ => releases++)); // stopped: refused
        Assert.Equal(1, releases);
    }

    [Fact]
    public async Task CoreFault_InABatch_StillReleasesIt_AndFaultsTheLoop()
    {
        var core = new PingPongCore { ThrowOn = "ping:3" };
        await using var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { });
        loop.Start();
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(loop.TryPostBatch(Pings(0, 8), _ => released.TrySetResult()));
        await released.Task.WaitAsync(Wait);
        var fault = await Assert.ThrowsAsync<InvalidOperationException>(() => loop.Completion.WaitAsync(Wait));
        Assert.Equal("core bug (test)", fault.Message);
        Assert.Equal(4, core.Received);
    }
}
