using System.Buffers;

namespace OspBridge.Net.IO;

/// <summary>Takes back a receive arena lent to a <see cref="DatagramBatch"/> (<see cref="DatagramBatch.Clear"/> calls it, on any thread).</summary>
internal interface IArenaOwner
{
    /// <summary>The batch is done with <paramref name="arena"/>.</summary>
    void ReturnArena(byte[] arena);
}

/// <summary>
/// One socket's free GRO receive arenas. The socket rents an arena per receive and lends it to the batch it fills; the
/// batch's consumer (a connection loop, on another thread) gives it back here when it cleared the batch. Renting from
/// <see cref="ArrayPool{T}.Shared"/> each time missed whenever more arenas were in flight than the shared pool's
/// per-core stacks hold (the 1 MiB arenas of 64 KiB QUIC datagrams: 6 arrays of 1 MiB allocated per steady-state
/// window, issue 14). Bounded (<see cref="MaxFree"/> arrays); all go back to the shared pool after
/// <see cref="IdleRelease"/> without a rent, so an idle socket holds none (issue 13: 1000 idle connections).
/// </summary>
internal sealed class ArenaList : IArenaOwner, IDisposable
{
    /// <summary>The most free arenas kept.</summary>
    public const int MaxFree = 12;

    /// <summary>How long the list keeps arenas after the last rent.</summary>
    public static readonly TimeSpan IdleRelease = TimeSpan.FromMilliseconds(250);

    private readonly object _gate = new();
    private readonly byte[][] _free = new byte[MaxFree][];
    private readonly Func<long> _ticks;
    private int _count;
    private long _lastRent;
    private Timer? _timer;
    private bool _armed, _disposed;

    /// <summary>A list whose idle clock is <paramref name="milliseconds"/> (tests; default <see cref="Environment.TickCount64"/>).</summary>
    public ArenaList(Func<long>? milliseconds = null) => _ticks = milliseconds ?? (static () => Environment.TickCount64);

    /// <summary>Free arenas on the list now (tests).</summary>
    public int Count { get { lock (_gate) return _count; } }

    /// <summary>Arenas the list had to take from the shared pool because it held none large enough (benches).</summary>
    public long Misses;

    /// <summary>An arena of at least <paramref name="length"/> bytes: a free one, else one from the shared pool.</summary>
    public byte[] Rent(int length)
    {
        byte[]? tooSmall = null;
        lock (_gate)
        {
            _lastRent = _ticks();
            if (_count > 0)
            {
                var top = _free[--_count];
                _free[_count] = null!;
                if (top.Length >= length) return top;
                tooSmall = top;
            }
        }
        if (tooSmall is not null) ArrayPool<byte>.Shared.Return(tooSmall);
        Misses++;
        return ArrayPool<byte>.Shared.Rent(length);
    }

    /// <inheritdoc/>
    public void ReturnArena(byte[] arena)
    {
        bool arm = false;
        lock (_gate)
        {
            if (!_disposed && _count < MaxFree)
            {
                _free[_count++] = arena;
                arena = null!;
                if (!_armed) _armed = arm = true;
            }
        }
        if (arena is not null) { ArrayPool<byte>.Shared.Return(arena); return; }
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
        byte[][]? release = null;
        int n = 0;
        bool rearm = false;
        lock (_gate)
        {
            if (_ticks() - _lastRent < (long)IdleRelease.TotalMilliseconds && _count > 0 && !_disposed) rearm = true;
            else
            {
                _armed = false;
                if (_count > 0)
                {
                    release = new byte[_count][];
                    Array.Copy(_free, release, _count);
                    Array.Clear(_free, 0, _count);
                    n = _count;
                    _count = 0;
                }
            }
        }
        for (int i = 0; i < n; i++) ArrayPool<byte>.Shared.Return(release![i]);
        if (rearm) Arm();
    }

    /// <summary>Tests: runs the idle check now, as the timer would.</summary>
    internal void ReleaseIfIdleForTests() => OnTimer();

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            for (int i = 0; i < _count; i++) { ArrayPool<byte>.Shared.Return(_free[i]); _free[i] = null!; }
            _count = 0;
        }
        _timer?.Dispose();
    }
}
