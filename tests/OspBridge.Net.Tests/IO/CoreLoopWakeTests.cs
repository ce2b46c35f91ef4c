using System.Net;
using System.Text;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// <see cref="CoreLoop{TEvent}.TryQueueDatagram"/> / <see cref="CoreLoop{TEvent}.TryQueueBatch"/> + <see cref="CoreLoop{TEvent}.Wake"/>:
/// a receive batch is queued without waking the loop, then one wake runs one pass over all of it — inline on the
/// caller's thread (the socket's receive task; issue 14: no thread-pool hop per ACK) or through the pool.
/// </summary>
public sealed class CoreLoopWakeTests
{
    private static readonly DatagramPath From = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));

    private static async Task UntilWaiting<T>(CoreLoop<T> loop)
    {
        var deadline = TimeProvider.System.GetTimestamp() + TimeProvider.System.TimestampFrequency * 10;
        while (!loop.IsWaitingForInput)
        {
            Assert.True(TimeProvider.System.GetTimestamp() < deadline, "the loop never went back to waiting for input within 10 s");
            await Task.Delay(1);
        }
    }

    [Fact]
    public async Task QueuedDatagrams_DoNotWakeTheLoop_AndAnInlineWakeRunsOnePassOnTheCallingThread()
    {
        var sender = new CoreLoopTests.RecordingSender();
        var core = new PingPongCore();
        var eventThreads = new List<int>();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { lock (eventThreads) eventThreads.Add(Environment.CurrentManagedThreadId); });
        loop.Start();
        await UntilWaiting(loop);

        for (int i = 0; i < 5; i++) Assert.True(loop.TryQueueDatagram(Encoding.ASCII.GetBytes($"ping:{i}"), From));
        Assert.True(loop.IsWaitingForInput, "queuing without a wake must leave the loop waiting");
        Assert.Equal(0, Volatile.Read(ref sender.Count));

        int me = Environment.CurrentManagedThreadId;
        loop.Wake(inline: true);
        // The pass ran before Wake returned, on this thread: five pongs in one send batch, five events seen here.
        Assert.Equal(5, Volatile.Read(ref sender.Count));
        lock (sender.BatchSizes) Assert.Equal([5], sender.BatchSizes);
        lock (eventThreads) Assert.True(eventThreads.Count == 5 && eventThreads.TrueForAll(t => t == me),
            $"events on threads [{string.Join(",", eventThreads)}], caller {me}");
        Assert.Equal(1, loop.Counters.InlineWakeups);
        Assert.Equal(5, core.Received);

        // Nothing queued: a wake is a no-op.
        await UntilWaiting(loop);
        loop.Wake(inline: true);
        Assert.Equal(1, loop.Counters.InlineWakeups);

        // A queued batch and a pool wake: the pass runs, not counted as inline.
        var batch = new DatagramBatch(8, 64);
        for (int i = 10; i < 14; i++) Assert.True(batch.TryAdd(Encoding.ASCII.GetBytes($"ping:{i}"), From));
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(loop.TryQueueBatch(batch, _ => released.TrySetResult()));
        loop.Wake(inline: false);
        await released.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(9, await loop.InvokeAsync(_ => core.Received, CancellationToken.None));
        Assert.Equal(1, loop.Counters.InlineWakeups);
        Assert.Equal(0, loop.DroppedDatagrams);
    }

    [Fact]
    public async Task ReceiveBuffers_AreReused_AcrossPasses()
    {
        // The copy path takes its buffer from the loop's free list in the same lock as the enqueue and the loop gives
        // buffers back in its next drain: after a warm-up, further datagrams allocate no new buffers.
        var sender = new CoreLoopTests.RecordingSender();
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { });
        loop.Start();
        var ping = "ping:1"u8.ToArray();
        long least = long.MaxValue;
        for (int window = 0; window < 4; window++)
        {
            await UntilWaiting(loop);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int round = 0; round < 50; round++)
            {
                for (int i = 0; i < 8; i++) Assert.True(loop.TryQueueDatagram(ping, From));
                loop.Wake(inline: true); // the pass (and the buffer give-back in its drain) runs on this thread
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (window > 0) least = Math.Min(least, allocated); // window 0 fills the free list
        }
        // PingPongCore itself allocates (strings, events) per datagram; a 2 KiB buffer per datagram would add ≥ 800 KB.
        Assert.True(least < 400 * 600, $"least of three windows of 400 datagrams allocated {least} B on the posting thread");
        Assert.Equal(0, loop.DroppedDatagrams);
    }
}
