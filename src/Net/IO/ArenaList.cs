using System.Buffers;

namespace OspBridge.Net.IO;

/// <summary>Takes back a receive arena lent to a <see cref="DatagramBatch"/> (<see cref="DatagramBatch.Clear"/> calls it, on any thread).</summary>
internal interface IArenaOwner
{
    /// <summary>The batch is done with <paramref name="arena"/>.</summary>
    void ReturnArena(byte[] arena);
}

/// <summary>
/// A GRO receive arena shared by reference count: the socket holds one reference while it receives into the arena's free
/// regions, and every batch that adopts part of it one more (<see cref="DatagramBatch.AdoptArena"/> with this as the
/// owner; <see cref="DatagramBatch.Clear"/> releases it). When the last reference goes, the arena goes back to its
/// <see cref="ArenaList"/> (issue 14, session 17: one arena serves many small receives instead of one each).
/// </summary>
internal sealed class SharedArena : IArenaOwner
{
    private readonly ArenaList _list;
    private int _refs;

    internal SharedArena(ArenaList list, byte[] array)
    {
        _list = list;
        Array = array;
    }

    /// <summary>The arena's bytes (null once it went back to the shared pool).</summary>
    public byte[] Array { get; internal set; }

    /// <summary>References held now (tests).</summary>
    internal int References => Volatile.Read(ref _refs);

    /// <summary>Takes the first reference (the list, when it hands the arena out).</summary>
    internal void Reset() => Volatile.Write(ref _refs, 1);

    /// <summary>One more holder (a batch about to adopt the arena).</summary>
    public void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new InvalidOperationException("arena already released");
    }

    /// <summary>Drops one reference; the last one gives the arena back to its list.</summary>
    public void Release()
    {
        int left = Interlocked.Decrement(ref _refs);
        if (left == 0) _list.Return(this);
        else if (left < 0) throw new InvalidOperationException("arena released more often than referenced");
    }

    /// <inheritdoc/>
    void IArenaOwner.ReturnArena(byte[] arena) => Release();
}

/// <summary>
/// One socket's free GRO receive arenas. The socket rents an arena, receives into its regions (several receives per
/// arena) and lends each receive's regions to the batch it fills by reference (<see cref="SharedArena"/>); the batches'
/// consumers (connection loops, on other threads) release their references when they cleared the batch, and the last
/// release puts the arena back here. Renting from <see cref="ArrayPool{T}.Shared"/> each time missed whenever more
/// arenas were in flight than the shared pool's per-core stacks hold (the 1 MiB arenas of 64 KiB QUIC datagrams: 6
/// arrays of 1 MiB allocated per steady-state window, issue 14). Bounded (<see cref="MaxFree"/> arrays); all go back to
/// the shared pool after <see cref="IdleRelease"/> without a rent, so an idle socket holds none (issue 13: 1000 idle
/// connections).
/// </summary>
internal sealed class ArenaList : IDisposable
{
    /// <summary>The most free arenas kept (the QUIC endpoint's 16 spare batches in flight, each on its own arena at worst); <c>OSPBRIDGE_GRO_ARENAS_KEPT</c> for A/B.</summary>
    public static readonly int MaxFree = Environment.GetEnvironmentVariable("OSPBRIDGE_GRO_ARENAS_KEPT") is { } k && int.TryParse(k, out int n) && n is >= 1 and <= 1024 ? n : 16;

    /// <summary>How long the list keeps arenas after the last rent.</summary>
    public static readonly TimeSpan IdleRelease = TimeSpan.FromMilliseconds(250);

    private readonly object _gate = new();
    private readonly SharedArena[] _free = new SharedArena[MaxFree];
    private readonly Func<long> _ticks;
    private int _count;
    private SharedArena? _parked;   // the socket's partly used arena while it waits (its reference, held here)
    private int _parkedNext;        // the parked arena's first unused region
    private long _lastRent;
    private Timer? _timer;
    private bool _armed, _disposed;

    /// <summary>A list whose idle clock is <paramref name="milliseconds"/> (tests; default <see cref="Environment.TickCount64"/>).</summary>
    public ArenaList(Func<long>? milliseconds = null) => _ticks = milliseconds ?? (static () => Environment.TickCount64);

    /// <summary>Free arenas on the list now (tests).</summary>
    public int Count { get { lock (_gate) return _count; } }

    /// <summary>True while a socket's partly used arena is parked here (tests).</summary>
    internal bool HoldsParked { get { lock (_gate) return _parked is not null; } }

    /// <summary>
    /// The socket, before it waits for data: keeps <paramref name="arena"/> (the socket's reference) with its first unused
    /// region <paramref name="nextRegion"/> for the next <see cref="Resume"/>, so receives on both sides of a short wait
    /// share one arena (before session 17 every wait gave the arena up: a loop that fell behind held one arena per
    /// batch). Released like the free arenas after <see cref="IdleRelease"/> without a rent or resume.
    /// </summary>
    public void Park(SharedArena arena, int nextRegion)
    {
        SharedArena? previous;
        bool arm = false;
        lock (_gate)
        {
            if (_disposed) previous = arena;
            else
            {
                previous = _parked;
                _parked = arena;
                _parkedNext = nextRegion;
                if (!_armed) _armed = arm = true;
            }
        }
        previous?.Release();
        if (arm) Arm();
    }

    /// <summary>
    /// The socket received into its arena (called per receive that returned data): the list is busy. A socket that keeps
    /// receiving into the same arena (it starts over at region 0 while no batch holds part of it) rents nothing for a long
    /// time; without this its free arenas went back to the shared pool 250 ms after the last rent although it was busy,
    /// and the next backlog had to rent them again (session 17: 3–8 misses of 1 MiB per steady-state window).
    /// </summary>
    public void Touch() => Volatile.Write(ref _lastRent, _ticks());

    /// <summary>The arena parked by <see cref="Park"/> and its next region (the caller takes over its reference); null when none (released for idleness).</summary>
    public SharedArena? Resume(out int nextRegion)
    {
        lock (_gate)
        {
            var parked = _parked;
            _parked = null;
            nextRegion = _parkedNext;
            if (parked is not null) _lastRent = _ticks();
            return parked;
        }
    }

    /// <summary>Arenas the list had to take from the shared pool because it held none large enough (benches).</summary>
    public long Misses;

    /// <summary>Arenas given back to the shared pool: by the idle timer, and because the list was full (benches).</summary>
    public long IdleReleased, Dropped;

    /// <summary>
    /// An arena of at least <paramref name="length"/> bytes, holding one reference (the caller's): a free one, else one
    /// from the shared pool.
    /// </summary>
    public SharedArena Rent(int length)
    {
        SharedArena? tooSmall = null;
        lock (_gate)
        {
            _lastRent = _ticks();
            if (_count > 0)
            {
                var top = _free[--_count];
                _free[_count] = null!;
                if (top.Array.Length >= length)
                {
                    top.Reset();
                    return top;
                }
                tooSmall = top;
            }
        }
        if (tooSmall is not null) ArrayPool<byte>.Shared.Return(tooSmall.Array);
        Interlocked.Increment(ref Misses);
        var arena = new SharedArena(this, ArrayPool<byte>.Shared.Rent(length));
        arena.Reset();
        return arena;
    }

    /// <summary>An arena's last reference went (<see cref="SharedArena.Release"/>): kept when there is room, else back to the shared pool.</summary>
    internal void Return(SharedArena arena)
    {
        bool arm = false, kept = false;
        lock (_gate)
        {
            if (!_disposed && _count < MaxFree)
            {
                _free[_count++] = arena;
                kept = true;
                if (!_armed) _armed = arm = true;
            }
        }
        if (!kept)
        {
            Interlocked.Increment(ref Dropped);
            ArrayPool<byte>.Shared.Return(arena.Array);
            arena.Array = null!;
            return;
        }
        if (arm) Arm();
    }

    private void Arm()
    {
        // One timer per list, armed at most once per IdleRelease (not per return): it checks the last rent when it fires.
        var timer = Volatile.Read(ref _timer);
        if (timer is null)
        {
            timer = new Timer(static s => ((ArenaList)s!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
            if (Interlocked.CompareExchange(ref _timer, timer, null) is { } other) { timer.Dispose(); timer = other; }
        }
        try { timer.Change(IdleRelease, Timeout.InfiniteTimeSpan); }
        catch (ObjectDisposedException) { }
    }

    private void OnTimer()
    {
        SharedArena? parked = null;
        lock (_gate)
        {
            if (_parked is not null && _ticks() - Volatile.Read(ref _lastRent) >= (long)IdleRelease.TotalMilliseconds)
            {
                parked = _parked;
                _parked = null;
            }
        }
        // The parked arena goes through its reference: onto the free list now (released with it below) if no batch holds
        // part of it, else when the last batch is done (that return arms the timer again).
        parked?.Release();
        SharedArena[]? release = null;
        int n = 0;
        bool rearm = false;
        lock (_gate)
        {
            if (_ticks() - Volatile.Read(ref _lastRent) < (long)IdleRelease.TotalMilliseconds && (_count > 0 || _parked is not null) && !_disposed) rearm = true;
            else
            {
                _armed = false;
                if (_count > 0)
                {
                    release = new SharedArena[_count];
                    System.Array.Copy(_free, release, _count);
                    System.Array.Clear(_free, 0, _count);
                    n = _count;
                    _count = 0;
                }
            }
        }
        if (n > 0) Interlocked.Add(ref IdleReleased, n);
        for (int i = 0; i < n; i++)
        {
            ArrayPool<byte>.Shared.Return(release![i].Array);
            release[i].Array = null!;
        }
        if (rearm) Arm();
    }

    /// <summary>Tests: runs the idle check now, as the timer would.</summary>
    internal void ReleaseIfIdleForTests() => OnTimer();

    /// <inheritdoc/>
    public void Dispose()
    {
        SharedArena? parked;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            parked = _parked;
            _parked = null;
            for (int i = 0; i < _count; i++)
            {
                ArrayPool<byte>.Shared.Return(_free[i].Array);
                _free[i].Array = null!;
                _free[i] = null!;
            }
            _count = 0;
        }
        parked?.Release(); // to the shared pool (the list is disposed)
        _timer?.Dispose();
    }
}
