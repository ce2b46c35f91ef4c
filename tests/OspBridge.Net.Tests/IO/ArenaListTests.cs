using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using Xunit;

namespace OspBridge.Net.Tests.IO;

/// <summary>A socket's free GRO arenas: reused across receives, bounded, given back when idle.</summary>
public class ArenaListTests
{
    private static readonly DatagramPath From = DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9));

    [Fact]
    public void A_cleared_batch_gives_its_arena_back_and_the_next_rent_reuses_it()
    {
        long now = 0;
        using var list = new ArenaList(() => now);
        var arena = list.Rent(4096);
        Assert.Equal(1, list.Misses);
        var batch = new DatagramBatch(2, 1500);
        batch.AdoptArena(arena, list);
        Assert.True(batch.CommitInArena(0, 100, From));
        Assert.Equal(0, list.Count);
        batch.Clear();
        Assert.Equal(1, list.Count);
        Assert.Same(arena, list.Rent(4096));
        Assert.Equal(1, list.Misses); // no second trip to the shared pool
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void Keeps_at_most_MaxFree_and_a_too_small_arena_is_replaced()
    {
        long now = 0;
        using var list = new ArenaList(() => now);
        var arenas = Enumerable.Range(0, ArenaList.MaxFree + 3).Select(_ => list.Rent(1024)).ToList();
        foreach (var a in arenas) list.ReturnArena(a);
        Assert.Equal(ArenaList.MaxFree, list.Count);
        var big = list.Rent(1 << 20);
        Assert.True(big.Length >= 1 << 20);
        Assert.Equal(ArenaList.MaxFree - 1, list.Count); // the small top one went back to the shared pool
    }

    [Fact]
    public void Idle_lists_give_everything_back_busy_ones_keep_it()
    {
        long now = 1000;
        using var list = new ArenaList(() => now);
        var a = list.Rent(2048);
        var b = list.Rent(2048);
        list.ReturnArena(a);
        list.ReturnArena(b);
        now += 100; // rented 100 ms ago: still busy
        list.ReleaseIfIdleForTests();
        Assert.Equal(2, list.Count);
        now += (long)ArenaList.IdleRelease.TotalMilliseconds;
        list.ReleaseIfIdleForTests();
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public async Task The_timer_releases_an_idle_list()
    {
        using var list = new ArenaList();
        list.ReturnArena(list.Rent(2048));
        Assert.Equal(1, list.Count);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (list.Count != 0 && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void After_dispose_returns_go_to_the_shared_pool()
    {
        var list = new ArenaList();
        var a = list.Rent(2048);
        list.ReturnArena(list.Rent(2048));
        list.Dispose();
        Assert.Equal(0, list.Count);
        list.ReturnArena(a);
        Assert.Equal(0, list.Count);
    }
}
