namespace OspBridge.Media.Sources;

/// <summary>Restart/reconnect delays 1, 2, 4 ... capped (defaults 1 s to 30 s); reset after a good run.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    private readonly TimeSpan _initial = initial;
    private TimeSpan _next = initial;

    public TimeSpan Next()
    {
        var d = _next;
        _next = TimeSpan.FromTicks(Math.Min(max.Ticks, _next.Ticks * 2));
        return d;
    }

    public void Reset() => _next = _initial;
}
