using System.Security.Cryptography;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Writing by lease: the application fills the stream's send buffer in place (no copy from its own buffer) and commits.
/// The bytes arrive exactly as written, leases wait for room, and a lease never lets the ring move under the writer.
/// </summary>
public class LeaseWriteTests
{
    [Fact]
    public void A_leased_ring_neither_grows_nor_takes_other_writes_nor_returns_to_the_pool()
    {
        var sb = new SendBuffer(4096, 1 << 20);
        Assert.True(sb.TryLease(10_000, out var ring, out int index, out int length));
        Assert.Equal(0, index);
        Assert.Equal(10_000, length);
        Assert.Throws<InvalidOperationException>(() => sb.Write(new byte[1]));
        Assert.False(sb.TryLease(10, out _, out _, out _)); // one lease at a time
        new Random(1).NextBytes(ring.AsSpan(0, 6000));
        sb.CommitLease(6000);
        Assert.Equal(6000UL, sb.WriteEnd);
        var back = new byte[6000];
        sb.CopyTo(0, back);
        Assert.True(back.AsSpan().SequenceEqual(ring.AsSpan(0, 6000)));
        // Released while leased (stream reset): the ring must not go back to the pool, the writer may still touch it.
        Assert.True(sb.TryLease(100, out var leased, out _, out _));
        sb.Release();
        Assert.False(sb.IsLeased);
        var fresh = RingPool.Rent(leased.Length);
        Assert.False(ReferenceEquals(fresh, leased), "a leased ring went back to the pool");
        RingPool.Return(fresh);
    }

    [Fact]
    public void A_lease_at_the_rings_end_is_cut_there_and_the_next_one_starts_at_its_beginning()
    {
        var sb = new SendBuffer(4096, 8192);
        var data = new byte[8192];
        new Random(2).NextBytes(data);
        Assert.Equal(6000, sb.Write(data.AsSpan(0, 6000)));
        sb.TryNextChunk(6000, ulong.MaxValue, out ulong off, out int len, out _, out _);
        sb.OnAcked(off, len, false); // the first 6000 bytes are gone: the ring has 8192 - 0 unacked of room, wrapping at 8192
        Assert.True(sb.TryLease(5000, out var ring, out int index, out int length));
        Assert.Equal(6000, index);
        Assert.Equal(ring.Length - 6000, length); // contiguous only
        data.AsSpan(0, length).CopyTo(ring.AsSpan(index));
        sb.CommitLease(length);
        Assert.True(sb.TryLease(5000 - length, out ring, out index, out int length2));
        Assert.Equal((6000 + length) % ring.Length, index);
        data.AsSpan(length, 5000 - length).CopyTo(ring.AsSpan(index));
        sb.CommitLease(5000 - length);
        var back = new byte[5000];
        sb.CopyTo(6000, back);
        Assert.True(back.AsSpan().SequenceEqual(data.AsSpan(0, 5000)));
        Assert.Equal(5000 - length, length2);
    }

    [Theory]
    [InlineData(41)]
    [InlineData(42)]
    public async Task Leased_writes_arrive_byte_exact_over_loopback(int seed)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var listener = await LoopbackApiTests.Listen();
        var serverSide = Task.Run(async () =>
        {
            await using var conn = await listener.AcceptConnectionAsync(cts.Token);
            await using var stream = await conn.AcceptInboundStreamAsync(cts.Token);
            var sink = new MemoryStream();
            var buf = new byte[1 << 16];
            int n;
            var rng = new Random(seed + 1);
            while ((n = await stream.ReadAsync(buf, cts.Token)) > 0)
            {
                sink.Write(buf, 0, n);
                if (rng.Next(20) == 0) await Task.Delay(2, cts.Token); // a slow reader now and then: leases must wait for room
            }
            return sink.ToArray();
        });
        await using var client = await LoopbackApiTests.Connect(listener.LocalEndPoint);
        await using var s = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token);
        var data = new byte[12 << 20];
        new Random(seed).NextBytes(data);
        var rng = new Random(seed);
        int sent = 0;
        while (sent < data.Length)
        {
            var lease = await s.LeaseWriteAsync(rng.Next(1, 300_000), cts.Token);
            Assert.True(lease.Length > 0);
            int n = Math.Min(lease.Length, data.Length - sent);
            if (rng.Next(10) == 0) n = Math.Min(n, rng.Next(0, 50)); // short and empty commits too
            data.AsSpan(sent, n).CopyTo(lease.Span);
            sent += n;
            s.CommitLease(n, completeWrites: sent == data.Length);
        }
        var got = await serverSide.WaitAsync(cts.Token);
        Assert.Equal(data.Length, got.Length);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got));
    }
}
