using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using Xunit;

namespace OspBridge.Net.Tests.IO;

/// <summary>A socket's GRO arenas: shared by reference count, reused across receives, bounded, given back when idle.</summary>
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
        Assert.Equal(1, arena.References);
        var batch = new DatagramBatch(2, 1500);
        arena.AddRef();
        batch.AdoptArena(arena.Array, arena);
        arena.Release(); // the socket's reference: the batch still holds one
        Assert.True(batch.CommitInArena(0, 100, From));
        Assert.Equal(0, list.Count);
        batch.Clear();
        Assert.Equal(1, list.Count);
        var again = list.Rent(4096);
        Assert.Same(arena, again);
        Assert.Equal(1, again.References);
        Assert.Equal(1, list.Misses); // no second trip to the shared pool
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void A_shared_arena_goes_back_only_with_its_last_reference_and_never_twice()
    {
        long now = 0;
        using var list = new ArenaList(() => now);
        var arena = list.Rent(1 << 16);
        var batches = Enumerable.Range(0, 3).Select(_ => new DatagramBatch(4, 2048)).ToArray();
        for (int i = 0; i < batches.Length; i++)
        {
            arena.AddRef();
            batches[i].AdoptArena(arena.Array, arena);
            Assert.True(batches[i].CommitInArena(i * 1000, 1000, From)); // each batch its own region of the one arena
            Assert.Same(arena.Array, batches[i].Storage);
        }
        Assert.Equal(4, arena.References); // the socket + 3 batches
        batches[1].Clear();
        batches[0].Clear();
        Assert.Equal(0, list.Count);
        arena.Release(); // the socket moved on
        Assert.Equal(0, list.Count); // batch 2 still reads its region
        Assert.Equal(1, arena.References);
        batches[2].Clear();
        Assert.Equal(1, list.Count);
        Assert.Equal(0, arena.References);
        Assert.Throws<InvalidOperationException>(arena.Release); // a second release would hand the arena out twice
        Assert.Throws<InvalidOperationException>(arena.AddRef);  // a released arena cannot be adopted again
    }

    [Fact]
    public void Keeps_at_most_MaxFree_the_rest_goes_back_to_the_shared_pool()
    {
        long now = 0;
        using var list = new ArenaList(() => now);
        var arenas = Enumerable.Range(0, ArenaList.MaxFree + 3).Select(_ => list.Rent(1024)).ToList();
        Assert.Equal(ArenaList.MaxFree + 3, list.Misses);
        foreach (var a in arenas) a.Release();
        Assert.Equal(ArenaList.MaxFree, list.Count);
        Assert.Equal(3, arenas.Count(a => a.Array is null)); // not kept: their arrays went back to the shared pool
        for (int i = 0; i < ArenaList.MaxFree; i++) Assert.NotNull(list.Rent(1024).Array);
        Assert.Equal(ArenaList.MaxFree + 3, list.Misses); // every one of those came off the list
        var big = list.Rent(1 << 20);
        Assert.True(big.Array.Length >= 1 << 20);
    }

    [Fact]
    public void A_parked_arena_resumes_where_it_stopped_and_is_released_when_idle()
    {
        long now = 1000;
        using var list = new ArenaList(() => now);
        var arena = list.Rent(1 << 20);
        list.Park(arena, 5);
        Assert.True(list.HoldsParked);
        Assert.Same(arena, list.Resume(out int next));
        Assert.Equal(5, next);
        Assert.False(list.HoldsParked);
        Assert.Null(list.Resume(out _));

        // Parked while a batch still reads part of it, then idle: the parked reference goes, the arena waits for the batch.
        var batch = new DatagramBatch(4, 2048);
        arena.AddRef();
        batch.AdoptArena(arena.Array, arena);
        list.Park(arena, 6);
        now += 100; // resumed 100 ms ago: busy
        list.ReleaseIfIdleForTests();
        Assert.True(list.HoldsParked);
        now += (long)ArenaList.IdleRelease.TotalMilliseconds;
        list.ReleaseIfIdleForTests();
        Assert.False(list.HoldsParked);
        Assert.Equal(1, arena.References);
        Assert.Equal(0, list.Count);
        batch.Clear(); // the last reference: onto the free list, then back to the shared pool on the next idle check
        Assert.Equal(1, list.Count);
        list.ReleaseIfIdleForTests();
        Assert.Equal(0, list.Count);
        Assert.Null(arena.Array);
    }

    [Fact]
    public void Idle_lists_give_everything_back_busy_ones_keep_it()
    {
        long now = 1000;
        using var list = new ArenaList(() => now);
        var a = list.Rent(2048);
        var b = list.Rent(2048);
        a.Release();
        b.Release();
        now += 100; // rented 100 ms ago: still busy
        list.ReleaseIfIdleForTests();
        Assert.Equal(2, list.Count);
        now += (long)ArenaList.IdleRelease.TotalMilliseconds - 50;
        list.Touch(); // the socket received (into an arena it holds): busy, although it rented nothing
        now += 100;
        list.ReleaseIfIdleForTests();
        Assert.Equal(2, list.Count);
        now += (long)ArenaList.IdleRelease.TotalMilliseconds;
        list.ReleaseIfIdleForTests();
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public async Task The_timer_releases_an_idle_list_and_its_parked_arena()
    {
        using var list = new ArenaList();
        list.Rent(2048).Release();
        list.Park(list.Rent(2048), 1);
        Assert.Equal(0, list.Count);
        Assert.True(list.HoldsParked);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((list.Count != 0 || list.HoldsParked) && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.False(list.HoldsParked);
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void After_dispose_returns_go_to_the_shared_pool()
    {
        var list = new ArenaList();
        var a = list.Rent(2048);
        list.Rent(2048).Release();
        var parked = list.Rent(2048);
        list.Park(parked, 3);
        list.Dispose();
        Assert.Equal(0, list.Count);
        Assert.False(list.HoldsParked);
        Assert.Null(parked.Array);
        a.Release();
        Assert.Equal(0, list.Count);
        Assert.Null(a.Array);
    }
}
