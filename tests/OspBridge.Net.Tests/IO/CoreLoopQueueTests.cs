using System.Diagnostics.CodeAnalysis;
using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// <see cref="CoreLoop{TEvent}.TryQueue(Action{TimeSpan})"/> + <see cref="CoreLoop{TEvent}.Wake"/> (issue 14): work queued
/// onto the loop from other threads without a task, a closure or a wake per item; one serialized loop, each producer's
/// order kept, no lost wake-up.
/// </summary>
public sealed class CoreLoopQueueTests
{
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
    public async Task TryQueue_DoesNotWake_AndAnInlineWakeRunsTheActionOnTheCallingThread()
    {
        var core = new SilentCore();
        await using var loop = new CoreLoop<int>(core, new CountingSender(), _ => { });
        loop.Start();
        await UntilWaiting(loop);

        int ranOn = 0;
        object? seen = null;
        Assert.True(loop.TryQueue(_ => ranOn = Environment.CurrentManagedThreadId));
        Assert.True(loop.TryQueue((state, _) => seen = state, "state"));
        Assert.True(loop.IsWaitingForInput, "queuing without a wake must leave the loop waiting");
        Assert.Equal(0, Volatile.Read(ref ranOn));

        loop.Wake(inline: true);
        Assert.Equal(Environment.CurrentManagedThreadId, Volatile.Read(ref ranOn)); // ran before Wake returned, here
        Assert.Equal("state", Volatile.Read(ref seen));
        Assert.Equal(1, loop.Counters.InlineWakeups);

        // Through the pool.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await UntilWaiting(loop);
        Assert.True(loop.TryQueue((s, _) => ((TaskCompletionSource)s!).TrySetResult(), done));
        loop.Wake(inline: false);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, loop.Counters.InlineWakeups);

        // A stopped loop takes nothing (the action never runs).
        await loop.DisposeAsync();
        Assert.False(loop.TryQueue(_ => throw new InvalidOperationException("ran after the stop")));
        Assert.False(loop.TryQueue((_, _) => throw new InvalidOperationException("ran after the stop"), null));
    }

    [Fact]
    public async Task TryQueue_AndInlineWake_AllocateNothing_PassAndFlushIncluded()
    {
        // Every queued action makes the core send one datagram: the pass (drain, action, flush of the transmit) runs on
        // this thread inside Wake, so the thread's allocation counter sees all of it.
        var core = new SilentCore();
        var sender = new CountingSender();
        await using var loop = new CoreLoop<int>(core, sender, _ => { });
        loop.Start();
        await UntilWaiting(loop);
        Action<object?, TimeSpan> send = static (c, _) => ((SilentCore)c!).PendingTransmits++;
        const int Rounds = 2000;
        long least = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            await UntilWaiting(loop);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Rounds; i++)
            {
                Assert.True(loop.TryQueue(send, core));
                loop.Wake(inline: true);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (window > 0) least = Math.Min(least, allocated); // window 0 warms up (the send batch's buffer, the drain array)
        }
        Assert.Equal(3 * Rounds, Volatile.Read(ref sender.Count));
        // Before issue 14's session 13 work was queued through InvokeAsync (a task source, two closures, four delegates:
        // ≈ 400 B per call); one object per round would be ≥ 24 B × 2000 = 48 000 B.
        Assert.True(least < 1024, $"{Rounds} TryQueue + inline Wake rounds allocated {least} B on the calling thread");
    }

    [Fact]
    public async Task ProducersRacingTheLoop_KeepTheirOrder_RunOneAtATime_AndLoseNoWakeup()
    {
        const int Producers = 4;
        const int PerProducer = 20_000;
        var core = new SilentCore();
        await using var loop = new CoreLoop<int>(core, new CountingSender(), _ => { });
        loop.Start();
        var next = new int[Producers];        // the loop's view: the next sequence number expected from each producer
        int running = 0, overlaps = 0, outOfOrder = 0;
        long processed = 0;
        Action<object?, TimeSpan> record = (state, _) =>
        {
            if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            var (producer, seq) = ((int, int))state!;
            if (next[producer] != seq) outOfOrder++;
            next[producer] = seq + 1;
            Interlocked.Increment(ref processed);
            Interlocked.Decrement(ref running);
        };
        var threads = new Thread[Producers];
        var failures = new List<string>();
        for (int p = 0; p < Producers; p++)
        {
            int producer = p;
            threads[p] = new Thread(() =>
            {
                try
                {
                    var rng = new Random(1400 + producer); // fixed seeds
                    int unwoken = 0;
                    for (int seq = 0; seq < PerProducer; seq++)
                    {
                        if (!loop.TryQueue(record, (producer, seq))) { lock (failures) failures.Add($"producer {producer}: TryQueue refused item {seq}"); return; }
                        unwoken++;
                        // Mix the ways producers wake the loop: at once inline, at once through the pool, or once after a few items.
                        int mode = rng.Next(4);
                        if (mode == 0) { loop.Wake(inline: true); unwoken = 0; }
                        else if (mode == 1) { loop.Wake(inline: false); unwoken = 0; }
                        else if (unwoken >= 1 + rng.Next(8)) { loop.Wake(inline: rng.Next(2) == 0); unwoken = 0; }
                        if (rng.Next(64) == 0) Thread.Yield();
                    }
                    loop.Wake(inline: rng.Next(2) == 0); // the last items are never left without a wake
                }
                catch (Exception ex)
                {
                    lock (failures) failures.Add($"producer {producer}: {ex}");
                }
            }) { IsBackground = true, Name = $"producer {p}" };
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a producer did not finish within 60 s");
        Assert.Empty(failures);
        // No further input: a lost wake-up would leave items in the inbox of a loop that waits — they would never run.
        var deadline = TimeProvider.System.GetTimestamp() + TimeProvider.System.TimestampFrequency * 10;
        while (Interlocked.Read(ref processed) < Producers * PerProducer && TimeProvider.System.GetTimestamp() < deadline) await Task.Delay(5);
        Assert.Equal(Producers * PerProducer, Interlocked.Read(ref processed));
        await UntilWaiting(loop);
        Assert.Equal(0, Volatile.Read(ref overlaps));
        Assert.Equal(0, Volatile.Read(ref outOfOrder));
        Assert.All(next, n => Assert.Equal(PerProducer, n));
        Assert.False(loop.Completion.IsCompleted);
    }

    /// <summary>A core that allocates nothing: no input handling, <see cref="PendingTransmits"/> one-byte datagrams to send, no deadline, no events.</summary>
    private sealed class SilentCore : IProtocolCore<int>
    {
        private static readonly DatagramPath To = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));
        public int PendingTransmits;

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now) { }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            transmit = default;
            if (PendingTransmits == 0) return false;
            PendingTransmits--;
            destination[0] = 1;
            transmit = new Transmit(1, To);
            return true;
        }

        public TimeSpan? NextDeadline => null;

        public void HandleDeadline(TimeSpan now) { }

        public bool TryPollEvent([MaybeNullWhen(false)] out int ev)
        {
            ev = 0;
            return false;
        }
    }

    private sealed class CountingSender : IDatagramSender
    {
        public int Count;

        public void Send(DatagramBatch batch) => Interlocked.Add(ref Count, batch.Count);
    }
}
