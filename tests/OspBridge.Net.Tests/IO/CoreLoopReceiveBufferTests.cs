using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 14 (session 15): the loop's free lists of receive buffers (datagrams copied in by <see cref="CoreLoop{TEvent}.TryQueueDatagram"/>)
/// keep at most as many tiny buffers (≤ <see cref="CoreLoop{TEvent}.TinyBufferSize"/>: ACKs, SACKs) as the inbox holds,
/// <see cref="CoreLoop{TEvent}.MaxFreeBuffers"/> small ones and <see cref="CoreLoop{TEvent}.MaxFreeLargeBytes"/> of large
/// ones whatever a burst brought in, serve the next burst without allocating, hand every datagram to the core intact
/// while buffers are reused, and are emptied once the loop has received nothing for
/// <see cref="CoreLoop{TEvent}.ReceiveBufferIdleRelease"/> (an idle loop holds none). Non-parallel: one test measures allocation.
/// </summary>
[Collection(nameof(CoreLoopReceiveBufferTests))]
public sealed class CoreLoopReceiveBufferTests
{
    private static readonly DatagramPath From = new(new IPEndPoint(IPAddress.Loopback, 4000), new IPEndPoint(IPAddress.Loopback, 5000));

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), what);
            await Task.Delay(2);
        }
    }

    /// <summary>Datagram <paramref name="seq"/> of <paramref name="length"/> bytes: the sequence number, then bytes derived from it.</summary>
    private static void Fill(Span<byte> d, int seq)
    {
        BinaryPrimitives.WriteInt32LittleEndian(d, seq);
        for (int i = 4; i < d.Length; i++) d[i] = (byte)(seq * 31 + i);
    }

    /// <summary>Queues <paramref name="count"/> datagrams without waking the loop (they pile up in its inbox, as in a burst), then wakes it.</summary>
    private static async Task Burst(CoreLoop<int> loop, CheckingCore core, int count, int length, int firstSeq)
    {
        await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait before the burst");
        var d = new byte[length];
        long before = core.Received;
        for (int i = 0; i < count; i++)
        {
            Fill(d, firstSeq + i);
            Assert.True(loop.TryQueueDatagram(d, From), $"datagram {i} of the burst was not queued");
        }
        loop.Wake(inline: false);
        await WaitUntil(() => Volatile.Read(ref core.Received) == before + count && loop.IsWaitingForInput, "the burst was not handled");
    }

    [Theory]
    [InlineData(1200, 2048, 1024)]   // small buffers (2 KiB): the list keeps MaxFreeBuffers
    [InlineData(16_384, 16_384, 256)] // large buffers (MaxDatagramSize 16 KiB): the list keeps MaxFreeLargeBytes of them
    public async Task A_burst_larger_than_the_bound_leaves_at_most_the_bound_and_the_next_burst_allocates_nothing(int length, int maxDatagram, int bound)
    {
        var time = new FakeTimeProvider();
        var core = new CheckingCore();
        await using var loop = new CoreLoop<int>(core, new NullSender(), _ => { },
            new CoreLoopOptions { TimeProvider = time, MaxDatagramSize = maxDatagram, InboxCapacity = 4096 });
        loop.Start();
        Assert.Equal(bound, length <= 2048 ? CoreLoop<int>.MaxFreeBuffers : CoreLoop<int>.MaxFreeLargeBytes / maxDatagram);

        // A burst of 1.5 × the bound in the inbox at once: every buffer is new; the lists keep the bound, the rest is dropped.
        int burst = bound * 3 / 2;
        await Burst(loop, core, burst, length, 0);
        var s = loop.ReceiveBufferStats;
        Assert.Equal(burst, s.Allocated);
        Assert.Equal(bound, length <= 2048 ? s.FreeSmall : s.FreeLarge);
        Assert.Equal(burst - bound, s.Discarded);

        Assert.Equal(0, s.FreeTiny);

        // Bursts up to the bound, again and again (a busy connection: the clock moves less than the idle time between them):
        // served from the list, nothing allocated, nothing dropped.
        for (int round = 0; round < 3; round++)
        {
            time.Advance(CoreLoop<int>.ReceiveBufferIdleRelease / 4);
            await Burst(loop, core, bound, length, burst + round * bound);
        }
        var after = loop.ReceiveBufferStats;
        Assert.Equal(burst, after.Allocated);
        Assert.Equal(burst - bound, after.Discarded);
        Assert.Equal(0, after.IdleReleases);
        Assert.Equal(0, core.Corrupt);
        Assert.Equal(burst + 3 * bound, core.Received);
    }

    [Fact]
    public async Task Tiny_datagrams_keep_as_many_buffers_as_the_inbox_holds_so_a_full_inbox_of_them_allocates_nothing_the_next_time()
    {
        // ACK-sized datagrams (≤ TinyBufferSize) pile up in a descheduled loop's inbox by the thousand: their list may keep
        // one 256-byte buffer per inbox entry (1 MiB at the default capacity), so even a full inbox is served from it.
        var time = new FakeTimeProvider();
        var core = new CheckingCore();
        const int Inbox = 4096;
        await using var loop = new CoreLoop<int>(core, new NullSender(), _ => { }, new CoreLoopOptions { TimeProvider = time, InboxCapacity = Inbox });
        loop.Start();
        await Burst(loop, core, Inbox, 60, 0);
        var s = loop.ReceiveBufferStats;
        Assert.Equal((Inbox, 0, 0), (s.FreeTiny, s.FreeSmall, s.FreeLarge));
        Assert.Equal(Inbox, s.Allocated);
        Assert.Equal(0, s.Discarded);
        // One more than the inbox holds: the inbox drops it (as before), no buffer is taken for it.
        await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait");
        var d = new byte[TinyLength];
        for (int i = 0; i < Inbox; i++) { Fill(d, 10_000 + i); Assert.True(loop.TryQueueDatagram(d, From)); }
        Assert.False(loop.TryQueueDatagram(d, From));
        Assert.Equal(1, loop.DroppedDatagrams);
        loop.Wake(inline: false);
        await WaitUntil(() => Volatile.Read(ref core.Received) == 2 * Inbox && loop.IsWaitingForInput, "the second burst was not handled");
        s = loop.ReceiveBufferStats;
        Assert.Equal(Inbox, s.Allocated); // the second full inbox came entirely from the list
        Assert.Equal(0, s.Discarded);
        Assert.Equal(Inbox, s.FreeTiny);
        Assert.Equal(0, core.Corrupt);
    }

    private const int TinyLength = 60;

    [Fact]
    public async Task Reused_buffers_carry_each_datagram_intact_while_posters_race_the_loop()
    {
        // Four threads post datagrams of varied sizes (small and large lists) while the loop hands them to the core and
        // gives the buffers back for the next posts: the core checks every byte — a buffer reused before the core was done
        // with it (use after return) would show up as a corrupt datagram.
        var core = new CheckingCore();
        await using var loop = new CoreLoop<int>(core, new NullSender(), _ => { }, new CoreLoopOptions { MaxDatagramSize = 16_384, InboxCapacity = 4096 });
        loop.Start();
        const int Threads = 4, PerThread = 5000;
        long queued = 0;
        var posters = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var rng = new Random(17 + t);
            var d = new byte[16_384];
            for (int i = 0; i < PerThread; i++)
            {
                int length = rng.Next(3) switch { 0 => rng.Next(2049, 16_385), 1 => rng.Next(8, CoreLoop<int>.TinyBufferSize + 1), _ => rng.Next(8, 2049) };
                Fill(d.AsSpan(0, length), t * PerThread + i);
                if (loop.TryQueueDatagram(d.AsSpan(0, length), From)) Interlocked.Increment(ref queued);
                if (i % 16 == 0) loop.Wake(inline: false);
            }
            loop.Wake(inline: false);
        })).ToArray();
        await Task.WhenAll(posters).WaitAsync(TimeSpan.FromSeconds(30));
        await WaitUntil(() => Volatile.Read(ref core.Received) == Interlocked.Read(ref queued), "not every queued datagram reached the core");
        Assert.Equal(0, core.Corrupt);
        Assert.Equal(Threads * PerThread, queued + loop.DroppedDatagrams);
        Assert.True(queued > 0);
        var s = loop.ReceiveBufferStats;
        Assert.True(s.FreeTiny <= 4096 && s.FreeSmall <= CoreLoop<int>.MaxFreeBuffers && s.FreeLarge <= CoreLoop<int>.MaxFreeLargeBytes / 16_384,
            $"free lists {s.FreeTiny} / {s.FreeSmall} / {s.FreeLarge}");
    }

    [Fact]
    public async Task An_idle_loop_empties_its_free_lists_after_the_idle_time_without_further_input()
    {
        var time = new FakeTimeProvider();
        var core = new CheckingCore();
        await using var loop = new CoreLoop<int>(core, new NullSender(), _ => { }, new CoreLoopOptions { TimeProvider = time, MaxDatagramSize = 16_384 });
        loop.Start();
        await Burst(loop, core, 100, 1200, 0);
        await Burst(loop, core, 10, 9000, 100);
        await Burst(loop, core, 30, TinyLength, 1000);
        var s = loop.ReceiveBufferStats;
        Assert.Equal((30, 100, 10), (s.FreeTiny, s.FreeSmall, s.FreeLarge));

        // Not idle long enough: kept.
        time.Advance(CoreLoop<int>.ReceiveBufferIdleRelease / 2);
        await Task.Delay(20);
        Assert.Equal((30, 100, 10), (loop.ReceiveBufferStats.FreeTiny, loop.ReceiveBufferStats.FreeSmall, loop.ReceiveBufferStats.FreeLarge));

        // Idle for ReceiveBufferIdleRelease: the loop's own timer comes back and the lists go, with no input arriving.
        time.Advance(CoreLoop<int>.ReceiveBufferIdleRelease / 2);
        await WaitUntil(() => loop.ReceiveBufferStats.IdleReleases == 1 && loop.IsWaitingForInput, "the free lists were not emptied after the idle time");
        s = loop.ReceiveBufferStats;
        Assert.Equal((0, 0, 0), (s.FreeTiny, s.FreeSmall, s.FreeLarge));
        Assert.Equal(0, loop.Counters.EarlyTimerPasses); // the release's timer pass is not counted as an early one

        // The next burst works as before (new buffers) and the loop stays idle-released once more afterwards.
        await Burst(loop, core, 20, 1200, 110);
        Assert.Equal(20, loop.ReceiveBufferStats.FreeSmall);
        time.Advance(CoreLoop<int>.ReceiveBufferIdleRelease);
        await WaitUntil(() => loop.ReceiveBufferStats.IdleReleases == 2, "the free lists were not emptied after the second idle time");
        Assert.Equal(0, core.Corrupt);
    }

    [Fact]
    public async Task Queued_datagrams_and_an_inline_pass_allocate_nothing_once_the_free_list_is_warm()
    {
        // TryQueueDatagram + Wake(inline) on this thread: the copy into a pooled buffer, the pass, the return of the buffer —
        // all on this thread, so its allocation counter sees all of it.
        var core = new CheckingCore();
        await using var loop = new CoreLoop<int>(core, new NullSender(), _ => { }, new CoreLoopOptions { MaxDatagramSize = 16_384 });
        loop.Start();
        var small = new byte[1200];
        var large = new byte[16_384];
        var tiny = new byte[TinyLength];
        const int Rounds = 2000;
        long least = long.MaxValue;
        int seq = 0;
        for (int window = 0; window < 3; window++)
        {
            await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait");
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Rounds; i++)
            {
                var d = (i & 3) switch { 0 => large, 1 => tiny, _ => small };
                Fill(d, seq++);
                Assert.True(loop.TryQueueDatagram(d, From));
                Assert.True(loop.TryQueueDatagram(d, From));
                seq++;
                loop.Wake(inline: true);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (window > 0) least = Math.Min(least, allocated); // window 0 warms up (the lists' first buffers, the drain array)
        }
        Assert.Equal(0, core.Corrupt);
        // One 2 KiB buffer per datagram (the behaviour without a free list) would be ≥ 4000 × 2 KiB here.
        Assert.True(least < 1024, $"{Rounds} rounds of two queued datagrams + an inline pass allocated {least} B on the calling thread");
    }

    /// <summary>A core that checks each datagram's bytes against <see cref="Fill"/> and counts them; sends nothing.</summary>
    private sealed class CheckingCore : IProtocolCore<int>
    {
        public long Received;
        public long Corrupt;

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
        {
            bool ok = datagram.Length >= 4;
            if (ok)
            {
                int seq = BinaryPrimitives.ReadInt32LittleEndian(datagram);
                for (int i = 4; i < datagram.Length && ok; i++) ok = datagram[i] == (byte)(seq * 31 + i);
            }
            // Scribble over it, as a core decrypting in place does: a buffer still queued elsewhere would be caught.
            datagram.Fill(0xEE);
            if (!ok) Corrupt++;
            Volatile.Write(ref Received, Received + 1);
        }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            transmit = default;
            return false;
        }

        public TimeSpan? NextDeadline => null;

        public void HandleDeadline(TimeSpan now) { }

        public bool TryPollEvent([MaybeNullWhen(false)] out int ev)
        {
            ev = 0;
            return false;
        }
    }

    private sealed class NullSender : IDatagramSender
    {
        public void Send(DatagramBatch batch) { }
    }
}

/// <summary>Runs <see cref="CoreLoopReceiveBufferTests"/> alone (one of its tests measures allocation).</summary>
[CollectionDefinition(nameof(CoreLoopReceiveBufferTests), DisableParallelization = true)]
public sealed class CoreLoopReceiveBufferCollection;
