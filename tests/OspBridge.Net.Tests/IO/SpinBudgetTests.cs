using System.Diagnostics;
using OspBridge.Net.IO;
using Xunit;

namespace OspBridge.Net.Tests.IO;

/// <summary>The epoll thread's poll budget: grows while blocking waits are short, falls to zero when they are long.</summary>
public class SpinBudgetTests
{
    private static long Us(int us) => us * Stopwatch.Frequency / 1_000_000;

    [Fact]
    public void Zero_ceiling_never_polls()
    {
        var b = new SpinBudget(0);
        for (int i = 0; i < 10; i++) b.OnBlocked(Us(1), polledFirst: false);
        Assert.Equal(0, b.Ticks);
    }

    [Fact]
    public void Short_gaps_grow_the_budget_to_the_ceiling_and_no_further()
    {
        var b = new SpinBudget(64);
        Assert.Equal(0, b.Ticks); // starts blocking at once
        b.OnBlocked(Us(10), polledFirst: false);
        Assert.Equal(Us(64) / 8, b.Ticks);
        long last = b.Ticks;
        for (int i = 0; i < 10; i++)
        {
            b.OnBlocked(Us(10), polledFirst: true);
            Assert.True(b.Ticks >= last && b.Ticks <= Us(64), $"{b.Ticks} after {last}");
            last = b.Ticks;
        }
        Assert.Equal(Us(64), b.Ticks);
    }

    [Fact]
    public void Long_gaps_after_a_poll_halve_it_to_zero()
    {
        var b = new SpinBudget(64);
        for (int i = 0; i < 5; i++) b.OnBlocked(Us(1), polledFirst: true);
        Assert.Equal(Us(64), b.Ticks);
        for (int i = 0; i < 64 && b.Ticks > 0; i++) b.OnBlocked(Us(5000), polledFirst: true);
        Assert.Equal(0, b.Ticks); // an idle thread stops polling
        b.OnBlocked(Us(5000), polledFirst: false);
        Assert.Equal(0, b.Ticks); // and a long wait without polling keeps it off
    }
}
