namespace OspBridge.WebRtc.Media;

/// <summary>
/// RTT from an echoed NTP timestamp — the one rule behind RFC 3550 §6.4.1 (SR → a report block's LSR/DLSR) and
/// RFC 3611 §4.5 (XR RRTR → DLRR): remember the middle 32 bits of the last few timestamps we sent with our monotonic
/// send time; an echo of one of them gives RTT = arrival − sent − the peer's delay (compact NTP). Used by
/// <see cref="RtpSendStream"/> (SR) and <see cref="RtpReceiveStream"/> (RRTR). Not thread-safe; allocates once.
/// </summary>
internal sealed class RoundTripEchoes
{
    private const int History = 8;
    private readonly uint[] _middle = new uint[History];
    private readonly TimeSpan[] _sentAt = new TimeSpan[History];
    private int _next, _count;

    /// <summary>We sent a report carrying NTP timestamp middle bits <paramref name="middle"/> at <paramref name="now"/>.</summary>
    public void Record(uint middle, TimeSpan now)
    {
        _middle[_next] = middle;
        _sentAt[_next] = now;
        _next = (_next + 1) % History;
        _count = Math.Min(_count + 1, History);
    }

    /// <summary>
    /// The RTT for an echo of <paramref name="echoedMiddle"/> that the peer held for <paramref name="delayCompact"/>
    /// (1/65536 s) before sending it, arriving at <paramref name="now"/>; never negative. False when 0 (no report
    /// received yet, RFC 3550) or not one of the last timestamps we sent.
    /// </summary>
    public bool TryRoundTrip(uint echoedMiddle, uint delayCompact, TimeSpan now, out TimeSpan rtt)
    {
        rtt = default;
        if (echoedMiddle == 0)
            return false;
        for (int i = 0; i < _count; i++)
        {
            if (_middle[i] != echoedMiddle)
                continue;
            var value = now - _sentAt[i] - NtpTime.FromCompact(delayCompact);
            rtt = value < TimeSpan.Zero ? TimeSpan.Zero : value;
            return true;
        }
        return false;
    }
}
