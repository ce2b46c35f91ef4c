namespace OspBridge.Quic.Core;

/// <summary>
/// A token bucket on caller-supplied time (sans-IO): holds at most <see cref="Burst"/> tokens and gains
/// <see cref="RatePerSecond"/> per second. The listener spends one per stateless reset, so resets are limited per
/// unit of time rather than per listener lifetime. Not thread-safe (the listener's receive task is its only user).
/// </summary>
internal sealed class TokenBucket
{
    private double _tokens;
    private TimeSpan _last;

    public TokenBucket(double ratePerSecond, int burst, TimeSpan now)
    {
        if (ratePerSecond < 0 || double.IsNaN(ratePerSecond)) throw new ArgumentOutOfRangeException(nameof(ratePerSecond));
        ArgumentOutOfRangeException.ThrowIfNegative(burst);
        RatePerSecond = ratePerSecond;
        Burst = burst;
        _tokens = burst;
        _last = now;
    }

    public double RatePerSecond { get; }

    public int Burst { get; }

    /// <summary>Takes one token if there is one.</summary>
    public bool TryTake(TimeSpan now)
    {
        if (now > _last)
        {
            _tokens = Math.Min(Burst, _tokens + (now - _last).TotalSeconds * RatePerSecond);
            _last = now;
        }
        if (_tokens < 1) return false;
        _tokens -= 1;
        return true;
    }
}
