namespace OspBridge.Net.Core;

/// <summary>
/// Turns a <see cref="TimeProvider"/> into the monotonic <c>now</c> that cores take: the time elapsed
/// since this clock was created. Drivers own one; tests pass a fake <see cref="TimeProvider"/>
/// (Microsoft.Extensions.Time.Testing) or drive cores with virtual time directly.
/// </summary>
public sealed class CoreClock
{
    private readonly long _origin;

    /// <summary>Creates a clock whose <see cref="Now"/> starts at zero.</summary>
    public CoreClock(TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        _origin = Time.GetTimestamp();
    }

    /// <summary>The underlying time provider (for timers).</summary>
    public TimeProvider Time { get; }

    /// <summary>Monotonic time since the clock was created.</summary>
    public TimeSpan Now => Time.GetElapsedTime(_origin);
}
