namespace OspBridge.Quic.Transport;

/// <summary>
/// NewReno congestion control (RFC 9002 §7, Appendix B) with a token-bucket pacer (§7.7): pacing rate =
/// 1.25 × cwnd / smoothed_rtt, bucket depth = 10 packets, so bursts stay bounded without per-packet timers.
/// </summary>
internal sealed class CongestionController
{
    private readonly int _mss;
    private TimeSpan _recoveryStart = TimeSpan.MinValue;
    private double _tokens;
    private TimeSpan _lastRefill;

    public CongestionController(int maxDatagramSize)
    {
        _mss = maxDatagramSize;
        Window = Math.Min(10 * _mss, Math.Max(14720, 2 * _mss));
        SlowStartThreshold = long.MaxValue;
        _tokens = Window;
    }

    public long Window { get; private set; }
    public long SlowStartThreshold { get; private set; }
    public long BytesInFlight { get; private set; }
    public long MinWindow => 2L * _mss;

    public bool CanSend(int bytes) => BytesInFlight + bytes <= Window;

    public void OnSent(int bytes, TimeSpan now)
    {
        BytesInFlight += bytes;
        _tokens -= bytes;
    }

    public void OnAcked(int bytes, TimeSpan sentTime)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        if (sentTime <= _recoveryStart) return;
        if (Window < SlowStartThreshold) Window += bytes;
        else Window += Math.Max(1, (long)_mss * bytes / Window);
    }

    /// <summary>Removes lost bytes from flight (call for every lost packet), then <see cref="OnCongestionEvent"/> once.</summary>
    public void OnLostBytes(int bytes) => BytesInFlight = Math.Max(0, BytesInFlight - bytes);

    public void OnDiscarded(int bytes) => BytesInFlight = Math.Max(0, BytesInFlight - bytes);

    public void OnCongestionEvent(TimeSpan sentTimeOfLargestLost, TimeSpan now)
    {
        if (sentTimeOfLargestLost <= _recoveryStart) return;
        _recoveryStart = now;
        SlowStartThreshold = Math.Max(Window / 2, MinWindow);
        Window = SlowStartThreshold;
    }

    public void OnPersistentCongestion()
    {
        Window = MinWindow;
        _recoveryStart = TimeSpan.MinValue;
    }

    /// <summary>Pacing: how long until <paramref name="bytes"/> may leave (Zero = now).</summary>
    public TimeSpan PacingDelay(int bytes, TimeSpan now, TimeSpan srtt)
    {
        double rate = 1.25 * Window / Math.Max(srtt.TotalSeconds, 0.0005); // bytes per second
        double depth = Math.Max(10.0 * _mss, Window / 8.0);
        if (now > _lastRefill)
        {
            _tokens = Math.Min(depth, _tokens + (now - _lastRefill).TotalSeconds * rate);
            _lastRefill = now;
        }
        if (_tokens >= bytes) return TimeSpan.Zero;
        return TimeSpan.FromSeconds((bytes - _tokens) / rate) + TimeSpan.FromTicks(1);
    }
}
