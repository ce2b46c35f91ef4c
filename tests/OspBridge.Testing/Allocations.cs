namespace OspBridge.Testing;

/// <summary>
/// Allocation checks that a one-off runtime allocation cannot fail: the code under test runs in up to a few windows
/// and the least bytes allocated on this thread in one window is what the test compares with its limit.
/// </summary>
/// <remarks>
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> also counts what the runtime allocates on the thread once
/// (a method tiering up mid-window, a type's static initialiser, a lazily grown runtime table): CI saw 5608 B once in
/// a window whose code allocates nothing. Such an allocation lands in one window only, while an allocation of the
/// code under test (per packet, per frame, per input) shows in every window, so the least of up to three windows
/// keeps every real failure and drops the one-off. A window that stays within <c>enough</c> ends the measurement
/// at once, so a passing check normally runs its window once.
/// </remarks>
public static class Allocations
{
    /// <summary>How many windows a check runs at the most unless it says otherwise.</summary>
    public const int DefaultWindows = 3;

    /// <summary>Bytes allocated on this thread while <paramref name="action"/> runs once.</summary>
    /// <param name="action">The code to measure.</param>
    /// <returns>The bytes allocated on the calling thread.</returns>
    public static long Of(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// Runs <paramref name="window"/> up to <paramref name="windows"/> times and returns the least bytes one run
    /// allocated on this thread; stops after the first run that allocated no more than <paramref name="enough"/>.
    /// </summary>
    /// <param name="windows">The most runs (1 or more).</param>
    /// <param name="window">One measurement window. It must be repeatable: reset any counters it asserts on at its start.</param>
    /// <param name="enough">A run allocating this many bytes or fewer ends the measurement (usually the test's limit).</param>
    /// <returns>The least bytes allocated by one run.</returns>
    public static long LeastOf(int windows, Action window, long enough = 0)
    {
        ArgumentNullException.ThrowIfNull(window);
        return LeastOf(windows, () => Of(window), bytes => bytes, enough);
    }

    /// <summary>
    /// Runs <paramref name="window"/> up to <paramref name="windows"/> times and returns the result of the run whose
    /// <paramref name="bytes"/> is least; stops after the first run whose bytes are no more than <paramref name="enough"/>.
    /// For windows that count their own allocations (per stage, per packet, leaving out the test's bookkeeping).
    /// </summary>
    /// <typeparam name="T">What one window reports.</typeparam>
    /// <param name="windows">The most runs (1 or more).</param>
    /// <param name="window">One measurement window, returning what it counted. It must be repeatable.</param>
    /// <param name="bytes">The allocated bytes a result stands for (the quantity to minimise).</param>
    /// <param name="enough">A run reporting this many bytes or fewer ends the measurement.</param>
    /// <returns>The result of the run with the least bytes.</returns>
    public static T LeastOf<T>(int windows, Func<T> window, Func<T, long> bytes, long enough = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(bytes);
        T least = window();
        long leastBytes = bytes(least);
        for (int run = 1; run < windows && leastBytes > enough; run++)
        {
            T result = window();
            long resultBytes = bytes(result);
            if (resultBytes < leastBytes)
            {
                least = result;
                leastBytes = resultBytes;
            }
        }
        return least;
    }
}
