using System.Runtime.InteropServices;

namespace OspBridge.Quic.Driver;

/// <summary>
/// Gives the C heap's free pages back to the OS after a burst of handshakes (issue 9). Every pending handshake
/// holds native TLS/AEAD state (OpenSSL contexts through the BCL) allocated on whichever thread-pool thread ran it, so
/// a flood spreads it over glibc's per-thread arenas; when the handshakes go, glibc keeps those pages resident
/// (measured: +13.6 MiB after a 10-minute flood, all of it returned by <c>malloc_trim(0)</c>). The listener calls
/// <see cref="AfterBurst"/> when its pending count falls back to zero after a burst; the trim runs on the thread pool,
/// at most once per <see cref="MinInterval"/>. Only on Linux with glibc; a no-op elsewhere.
/// </summary>
internal static partial class NativeHeapTrim
{
    /// <summary>Pending handshakes a listener must have reached since the last trim for the next zero to trigger one.</summary>
    public const int BurstThreshold = 16;

    /// <summary>Shortest time between two trims (process-wide).</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(2);

    private static long _lastTrimTicks = long.MinValue;
    private static int _scheduled;
    private static volatile bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Trims performed (tests and benches read it).</summary>
    public static long Trims;

    /// <summary>Schedules a trim unless one ran within <see cref="MinInterval"/> of <paramref name="now"/> (any monotonic clock).</summary>
    public static void AfterBurst(TimeSpan now)
    {
        if (_unavailable) return;
        long last = Interlocked.Read(ref _lastTrimTicks);
        if (last != long.MinValue && now.Ticks - last < MinInterval.Ticks) return;
        if (Interlocked.Exchange(ref _scheduled, 1) != 0) return;
        Interlocked.Exchange(ref _lastTrimTicks, now.Ticks);
        ThreadPool.UnsafeQueueUserWorkItem(static _ =>
        {
            try
            {
                _ = MallocTrim(0);
                Interlocked.Increment(ref Trims);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                _unavailable = true; // not glibc (musl has no malloc_trim)
            }
            finally
            {
                Volatile.Write(ref _scheduled, 0);
            }
        }, null);
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
