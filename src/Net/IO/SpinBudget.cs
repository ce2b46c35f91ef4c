using System.Diagnostics;

namespace OspBridge.Net.IO;

/// <summary>
/// How long a waiting thread polls before it blocks, adapted to the gaps it sees (the guest haltpoll governor's rule,
/// in user space): a blocking wait that ended within the ceiling doubles the budget (a poll that long would have
/// caught it); a poll that ran out and then blocked longer than the ceiling halves it. An idle thread's budget falls to
/// zero within a few waits, so idle costs nothing; a steady stream of datagrams keeps it polling between them.
/// Clock-free (elapsed ticks in); one thread owns an instance.
/// </summary>
internal struct SpinBudget
{
    private readonly long _maxTicks;
    private readonly long _startTicks;

    /// <summary>A budget of at most <paramref name="maxMicroseconds"/> (0: never poll).</summary>
    public SpinBudget(int maxMicroseconds)
    {
        _maxTicks = maxMicroseconds * Stopwatch.Frequency / 1_000_000;
        _startTicks = Math.Max(1, _maxTicks / 8);
        Ticks = 0;
    }

    /// <summary>The current budget in <see cref="Stopwatch"/> ticks (0: block at once).</summary>
    public long Ticks { get; private set; }

    /// <summary>A blocking wait lasted <paramref name="elapsedTicks"/>; <paramref name="polledFirst"/>: the budget ran out before it.</summary>
    public void OnBlocked(long elapsedTicks, bool polledFirst)
    {
        if (_maxTicks == 0) return;
        if (elapsedTicks <= _maxTicks) Ticks = Ticks == 0 ? _startTicks : Math.Min(_maxTicks, Ticks * 2);
        else if (polledFirst) Ticks /= 2;
    }
}
