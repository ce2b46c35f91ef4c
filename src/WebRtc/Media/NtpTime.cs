namespace OspBridge.WebRtc.Media;

/// <summary>64-bit NTP timestamps (RFC 5905 §6: seconds since 1900 in the high word, binary fraction in the low word) as RTCP carries them.</summary>
public static class NtpTime
{
    private const long UnixToNtpSeconds = 2_208_988_800;

    /// <summary>The NTP timestamp of a wall-clock instant.</summary>
    public static ulong FromWallClock(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }
        ulong fraction = (ulong)(((UInt128)(ulong)rest << 32) / TimeSpan.TicksPerSecond);
        return ((ulong)(seconds + UnixToNtpSeconds) << 32) | fraction;
    }

    /// <summary>The middle 32 bits (the "compact" form used by LSR/DLSR, units of 1/65536 s).</summary>
    public static uint Middle(ulong ntp) => (uint)(ntp >> 16);

    /// <summary>A duration in 1/65536 s (DLSR units), saturating.</summary>
    public static uint ToCompact(TimeSpan duration) =>
        duration <= TimeSpan.Zero ? 0 : (uint)Math.Min(uint.MaxValue, duration.Ticks * 65536 / TimeSpan.TicksPerSecond);

    /// <summary>A duration given in 1/65536 s.</summary>
    public static TimeSpan FromCompact(uint compact) => TimeSpan.FromTicks((long)compact * TimeSpan.TicksPerSecond / 65536);
}
