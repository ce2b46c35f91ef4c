namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// Issue 11 leftover: a PeerFetch stream waits for data and for credit on a <see cref="ReusableSignal"/> (one reused
/// value-task source per direction) instead of a new <see cref="TaskCompletionSource"/> per wait.
/// </summary>
public class ReusableSignalTests
{
    [Fact]
    public async Task Set_before_and_after_arming_completes_the_wait_and_a_set_without_waiter_is_dropped()
    {
        var signal = new ReusableSignal();
        signal.Set(); // nobody waits: nothing to remember
        ValueTask wait = signal.WaitAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted, "a Set before the wait was armed must not complete it");
        Assert.True(signal.IsWaiting);
        signal.Set();
        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(signal.IsWaiting);

        // Reused: the next wait is a fresh one on the same source.
        ValueTask again = signal.WaitAsync(CancellationToken.None);
        Assert.False(again.IsCompleted, "the reused source must start a new wait, not replay the last result");
        signal.Set();
        await again.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Cancellation_completes_the_wait_with_OperationCanceledException_and_a_later_Set_is_harmless()
    {
        var signal = new ReusableSignal();
        using var cts = new CancellationTokenSource();
        ValueTask wait = signal.WaitAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        signal.Set(); // too late: no waiter

        ValueTask next = signal.WaitAsync(cts.Token); // already cancelled token: completes at once, cancelled
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        ValueTask fine = signal.WaitAsync(CancellationToken.None); // the old registration no longer fires
        Assert.False(fine.IsCompleted);
        signal.Set();
        await fine.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_second_concurrent_wait_is_refused()
    {
        var signal = new ReusableSignal();
        Task first = signal.WaitAsync(CancellationToken.None).AsTask();
        Assert.Throws<InvalidOperationException>(() => ArmAgain(signal));
        signal.Set();
        await first.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static void ArmAgain(ReusableSignal signal) => _ = signal.WaitAsync(CancellationToken.None).AsTask();

    [Fact]
    public async Task Many_waits_with_a_cancellable_token_allocate_nothing_per_wait()
    {
        var signal = new ReusableSignal();
        using var cts = new CancellationTokenSource();

        async Task<long> RoundsAsync(int n)
        {
            long least = long.MaxValue;
            // The least of three windows: a one-off runtime allocation on the thread must not fail the check.
            for (int window = 0; window < 3; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < n; i++)
                {
                    ValueTask wait = signal.WaitAsync(cts.Token);
                    signal.Set();
                    await wait; // completed synchronously: the continuation stays on this thread
                }

                least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            }

            return least;
        }

        await RoundsAsync(200); // warm-up: the JIT, the registration nodes of the token source
        long allocated = await RoundsAsync(2000);
        // A TaskCompletionSource + its Task + WaitAsync's task per wait was ~200 B per wait (> 400 KB here).
        Assert.True(allocated <= 4096, $"2000 waits allocated {allocated} bytes on the thread (want ≤ 4 KiB: nothing per wait)");
    }
}
