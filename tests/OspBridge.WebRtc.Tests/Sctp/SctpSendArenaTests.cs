using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>The send arena and byte pool behind allocation-free queueing: bytes stay intact until released, in any order.</summary>
public class SctpSendArenaTests
{
    [Fact]
    public void Messages_KeepTheirBytes_UntilReleased_InAnyOrder()
    {
        var pool = new SctpBytePool();
        var arena = new SendArena(pool);
        var rnd = new Random(5);
        var live = new List<(OutgoingMessage M, byte[] Expected)>();
        for (int round = 0; round < 20_000; round++)
        {
            if (live.Count == 0 || rnd.Next(3) != 0)
            {
                // Mostly small (slab) messages, some large (pooled) ones, including the boundary sizes.
                int n = rnd.Next(10) switch { 0 => SendArena.SmallLimit, 1 => SendArena.SmallLimit + 1, 2 => rnd.Next(5_000, 70_000), _ => rnd.Next(1, 600) };
                var bytes = new byte[n];
                rnd.NextBytes(bytes);
                live.Add((arena.Rent(bytes), bytes));
            }
            else
            {
                int i = rnd.Next(live.Count);
                var (m, expected) = live[i];
                Assert.Equal(expected, m.Bytes(0, m.Length).ToArray());
                if (rnd.Next(4) == 0)
                {
                    m.References++; // still referenced by an in-flight chunk: survives one release
                    arena.Release(m);
                    Assert.Equal(expected, m.Bytes(0, m.Length).ToArray());
                }
                arena.Release(m);
                live.RemoveAt(i);
            }
        }
        foreach (var (m, expected) in live)
        {
            Assert.Equal(expected, m.Bytes(0, m.Length).ToArray());
            arena.Release(m);
        }
        arena.Trim();
        pool.Trim(64 * 1024);
        Assert.True(pool.FreeBytes <= 64 * 1024, $"pool keeps {pool.FreeBytes} bytes after Trim");
    }

    [Fact]
    public void BytePool_ReusesArraysBySizeClass()
    {
        var pool = new SctpBytePool();
        var a = pool.Rent(1000);
        Assert.Equal(1024, a.Length);
        Assert.Equal(256, pool.Rent(1).Length);
        pool.Return(a);
        Assert.Same(a, pool.Rent(700)); // same 1 KiB class
        Assert.Equal(0, pool.FreeBytes);
    }
}
