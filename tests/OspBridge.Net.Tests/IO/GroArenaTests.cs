using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 14 (session 13): a UDP GRO receive is not copied into batch slots; the batch takes the receive arena and
/// refers to each coalesced segment where it lies. A coalesced receive is never split over two calls (the batch's
/// entries grow past its capacity instead).
/// </summary>
public sealed class GroArenaTests
{
    private static readonly DatagramPath From = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));

    [Fact]
    public void Arena_SegmentsStayInPlace_GrowPastCapacity_IncludingOneAtTheArenaEnd_AndGoBackOnClear()
    {
        var batch = new DatagramBatch(capacity: 2, slotSize: 256);
        var arena = ArrayPool<byte>.Shared.Rent(4096);
        for (int i = 0; i < arena.Length; i++) arena[i] = (byte)(i * 7);
        batch.AdoptArena(arena);
        Assert.True(batch.HoldsArena);
        Assert.True(batch.HasBuffer);
        Assert.True(batch.IsFull); // no slot writes into an arena batch
        Assert.True(batch.NextSlot.IsEmpty);
        Assert.Throws<InvalidOperationException>(() => batch.Commit(1, From));

        // Four 200-byte segments, then a short last one that ends exactly at the arena's end.
        for (int k = 0; k < 4; k++) Assert.True(batch.CommitInArena(k * 200, 200, From));
        Assert.True(batch.CommitInArena(arena.Length - 37, 37, From));
        Assert.Equal(5, batch.Count); // past Capacity (2)
        for (int k = 0; k < 4; k++)
        {
            Assert.Equal(200, batch.LengthAt(k));
            Assert.Equal(k * 200, batch.OffsetAt(k));
            Assert.True(batch[k].SequenceEqual(arena.AsSpan(k * 200, 200)));
        }
        Assert.Equal(37, batch[4].Length);
        Assert.True(batch[4].SequenceEqual(arena.AsSpan(arena.Length - 37)));
        // In place: the batch's spans are the arena's bytes, not a copy.
        batch[4][36] ^= 0xff;
        Assert.Equal((byte)(((arena.Length - 1) * 7) ^ 0xff), arena[^1]);
        Assert.Same(arena, batch.Storage);

        // Outside the arena: refused.
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.CommitInArena(arena.Length - 10, 11, From));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.CommitInArena(arena.Length + 1, 0, From));

        batch.Clear(); // the arena goes back to the pool
        Assert.False(batch.HoldsArena);
        Assert.False(batch.HasBuffer);
        Assert.Equal(0, batch.Count);
        Assert.False(batch.IsFull);
        // Slots work again afterwards.
        Assert.True(batch.TryAdd([1, 2, 3], From));
        Assert.Equal([1, 2, 3], batch[0].ToArray());
        Assert.Equal(0, batch.OffsetAt(0));
        Assert.Throws<InvalidOperationException>(() => batch.AdoptArena(ArrayPool<byte>.Shared.Rent(16))); // not empty
    }

    [Fact]
    public void Arena_HoldsAtMost_MaxArenaDatagrams()
    {
        var batch = new DatagramBatch(capacity: 4, slotSize: 64);
        batch.AdoptArena(ArrayPool<byte>.Shared.Rent(DatagramBatch.MaxArenaDatagrams + 8));
        for (int i = 0; i < DatagramBatch.MaxArenaDatagrams; i++) Assert.True(batch.CommitInArena(i, 1, From));
        Assert.False(batch.CommitInArena(0, 1, From));
        Assert.Equal(DatagramBatch.MaxArenaDatagrams, batch.Count);
        batch.Clear();
    }

    private static void Fill(Span<byte> d, int seq)
    {
        BinaryPrimitives.WriteInt32BigEndian(d, seq);
        for (int i = 4; i < d.Length; i++) d[i] = (byte)(seq * 31 + i);
    }

    private static bool Check(ReadOnlySpan<byte> d, out int seq)
    {
        seq = d.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(d) : -1;
        for (int i = 4; i < d.Length; i++) if (d[i] != (byte)(seq * 31 + i)) return false;
        return d.Length >= 4;
    }

    [Fact]
    public async Task CoalescedRuns_ArriveWhole_InPlace_WithTheirShortLastSegments()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        var options = new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Offload = true, ReceiveBufferSize = 1 << 20 };
        using var sender = BatchedUdpSocket.Open(options);
        using var receiver = BatchedUdpSocket.Open(options);
        Assert.True(receiver.GroEnabled);

        // Run A: 40 × 1400 + a 77-byte tail (one GSO send); run B: 12 × 700 + a 5-byte tail; then single datagrams.
        static int Size(int i) => i < 40 ? 1400 : i == 40 ? 77 : i < 53 ? 700 : i == 53 ? 5 : 100 + i;
        const int count = 60;
        var send = new DatagramBatch(64, 2048);
        for (int i = 0; i < count; i++)
        {
            Fill(send.NextSlot[..Size(i)], i);
            send.Commit(Size(i), DatagramPath.To(receiver.LocalEndPoint));
        }
        sender.Send(send);
        Assert.True(sender.GsoMessages >= 2, $"expected GSO sends, got {sender.GsoMessages}");

        var batch = new DatagramBatch(capacity: 5, slotSize: 2048);
        var calls = new List<int[]>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int total = 0;
        while (total < count)
        {
            int n = await receiver.ReceiveAsync(batch, cts.Token);
            var seqs = new int[n];
            for (int i = 0; i < n; i++)
            {
                Assert.True(Check(batch[i], out seqs[i]), $"datagram {total + i} corrupted");
                Assert.Equal(Size(seqs[i]), batch.LengthAt(i));
                Assert.Equal(sender.LocalEndPoint, batch.PathAt(i).Remote);
            }
            if (n > batch.Capacity) Assert.True(batch.HoldsArena, "more datagrams than slots: they lie in the lent arena");
            calls.Add(seqs);
            total += n;
        }
        Assert.Equal(Enumerable.Range(0, count), calls.SelectMany(c => c));
        Assert.True(receiver.GroMessages >= 2, "GRO never coalesced on loopback");
        // Each coalesced run came whole in one call, although it holds far more datagrams than the batch has slots.
        Assert.Contains(calls, c => Enumerable.Range(0, 41).All(c.Contains));
        Assert.Contains(calls, c => Enumerable.Range(41, 13).All(c.Contains));
        Assert.Equal(0, receiver.GroSegmentsDropped);
    }

    /// <summary>
    /// Issue 14 (session 17): receives that take one datagram each — a loop that is behind holds several such batches at
    /// once — share one arena by reference count instead of holding a 1 MiB arena each; no receive overwrites a region a
    /// batch still holds; a busy socket takes nothing from the shared pool once warm; an idle one gives everything back.
    /// </summary>
    [Fact]
    public async Task SmallReceives_ShareOneArena_NeverOverwriteAHeldRegion_AndGoBackWhenIdle()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        var options = new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Offload = true, ReceiveBufferSize = 1 << 20 };
        using var sender = BatchedUdpSocket.Open(options);
        using var receiver = BatchedUdpSocket.Open(options);
        Assert.True(receiver.GroEnabled);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var held = Enumerable.Range(0, 3).Select(_ => new DatagramBatch(32, 2048)).ToArray(); // three batches in flight at once
        var send = new DatagramBatch(1, 2048);
        int shared = 0;
        const int rounds = 100;
        for (int round = 0; round < rounds; round++)
        {
            for (int b = 0; b < held.Length; b++)
            {
                int seq = round * held.Length + b;
                send.Clear();
                Fill(send.NextSlot[..(300 + b)], seq);
                send.Commit(300 + b, DatagramPath.To(receiver.LocalEndPoint));
                sender.Send(send);
                Assert.Equal(1, await receiver.ReceiveAsync(held[b], cts.Token)); // the other batches are not cleared
                Assert.True(held[b].HoldsArena);
            }
            for (int b = 0; b < held.Length; b++)
            {
                Assert.True(Check(held[b][0], out int seq), $"round {round}: batch {b} was overwritten by a later receive");
                Assert.Equal(round * held.Length + b, seq);
                Assert.Equal(b * 65_536, held[b].OffsetAt(0)); // region b: each receive after the ones still held
            }
            if (held.Select(h => h.Storage).Distinct().Count() == 1) shared++;
            foreach (var h in held) h.Clear(); // no batch holds a region now: the next receive starts over at region 0
        }
        // Before session 17 each receive had an arena of its own (never shared; three arenas in flight per round).
        Assert.Equal(rounds, shared);
        Assert.Equal(1, receiver.Arenas.Misses); // one arena for the whole run
        Assert.Equal(0, receiver.Arenas.Count);  // in the socket's hands, not free

        // The socket waits for more: its arena is parked, then given back to the shared pool once idle for 250 ms.
        using var stop = new CancellationTokenSource();
        var pending = receiver.ReceiveAsync(new DatagramBatch(32, 2048), stop.Token).AsTask();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (receiver.HoldsStaging && DateTime.UtcNow < until) await Task.Delay(5);
        Assert.False(receiver.HoldsStaging);
        while ((receiver.Arenas.Count != 0 || receiver.Arenas.HoldsParked) && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.False(receiver.Arenas.HoldsParked, "an idle socket still holds its parked arena");
        Assert.Equal(0, receiver.Arenas.Count);
        Assert.False(pending.IsCompleted);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }
}
