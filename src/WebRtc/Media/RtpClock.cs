using System.Security.Cryptography;

namespace OspBridge.WebRtc.Media;

/// <summary>
/// Converts a frame's presentation time (<see cref="EncodedFrame.Timestamp"/>, relative to the source's start) to
/// an RTP timestamp: <c>offset + time × clockRate</c> modulo 2^32. Each sender draws its own random 32-bit offset
/// (RFC 3550 §5.1: "the initial value of the timestamp SHOULD be random"), so viewers of one source see unrelated
/// timestamp bases.
/// </summary>
/// <param name="ClockRate">RTP clock rate in Hz.</param>
/// <param name="Offset">RTP timestamp at time zero.</param>
public readonly record struct RtpClock(int ClockRate, uint Offset)
{
    /// <summary>The RTP clock rate of <paramref name="codec"/>: 90 kHz video (RFC 6184 §8.2.1, RFC 7798 §7.1), 48 kHz Opus (RFC 7587 §4.1), 8 kHz G.711 (RFC 3551 §4.5.14).</summary>
    public static int ClockRateOf(MediaCodec codec) => codec switch
    {
        MediaCodec.H264 or MediaCodec.H265 => 90_000,
        MediaCodec.Opus => 48_000,
        MediaCodec.Pcmu or MediaCodec.Pcma => 8_000,
        _ => throw new ArgumentOutOfRangeException(nameof(codec)),
    };

    /// <summary>A clock for <paramref name="codec"/> with an offset drawn from <paramref name="random"/>.</summary>
    public static RtpClock Create(MediaCodec codec, RandomNumberGenerator random)
    {
        ArgumentNullException.ThrowIfNull(random);
        Span<byte> b = stackalloc byte[4];
        random.GetBytes(b);
        return new RtpClock(ClockRateOf(codec), BitConverter.ToUInt32(b));
    }

    /// <summary>Clock units in <paramref name="time"/> (rounded toward zero, exact for any 64-bit tick count).</summary>
    public long ToUnits(TimeSpan time)
    {
        long ticks = time.Ticks;
        long seconds = ticks / TimeSpan.TicksPerSecond, rest = ticks % TimeSpan.TicksPerSecond;
        return seconds * ClockRate + rest * ClockRate / TimeSpan.TicksPerSecond;
    }

    /// <summary>The RTP timestamp for <paramref name="time"/>.</summary>
    public uint ToRtp(TimeSpan time) => unchecked(Offset + (uint)ToUnits(time));

    /// <summary>The time span of <paramref name="units"/> clock units.</summary>
    public TimeSpan ToTime(long units) => TimeSpan.FromTicks(units / ClockRate * TimeSpan.TicksPerSecond + units % ClockRate * TimeSpan.TicksPerSecond / ClockRate);
}
