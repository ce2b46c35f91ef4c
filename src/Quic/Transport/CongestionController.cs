namespace OspBridge.Quic.Transport;

/// <summary>The congestion controller of a connection (see <see cref="CongestionController"/>).</summary>
internal enum CongestionAlgorithm
{
    /// <summary>RFC 9002 §7 / Appendix B.</summary>
    NewReno,
    /// <summary>RFC 9438.</summary>
    Cubic,
}

/// <summary>
/// Congestion control — NewReno (RFC 9002 §7, Appendix B) or CUBIC (RFC 9438, with its Reno-friendly region and
/// fast convergence; slow start and the recovery period are RFC 9002's for both) — with a token-bucket pacer
/// (§7.7): pacing rate = 1.25 × cwnd / smoothed_rtt, sent in bursts of one timer tick's worth (see
/// <see cref="PacingDelay"/>), so bursts stay bounded without per-packet timers.
/// </summary>
internal sealed class CongestionController
{
    private int _mss;
    private TimeSpan _recoveryStart = TimeSpan.MinValue;
    private double _tokens;
    private TimeSpan _lastRefill;

    public CongestionController(int maxDatagramSize, CongestionAlgorithm algorithm = CongestionAlgorithm.NewReno)
    {
        _mss = maxDatagramSize;
        Algorithm = algorithm;
        Window = Math.Min(10 * _mss, Math.Max(14720, 2 * _mss));
        SlowStartThreshold = long.MaxValue;
        _tokens = Window;
    }

    public CongestionAlgorithm Algorithm { get; }
    public long Window { get; private set; }
    public long SlowStartThreshold { get; private set; }
    public long BytesInFlight { get; private set; }
    public long MinWindow => 2L * _mss;
    /// <summary>Congestion events (window reductions) so far.</summary>
    public long CongestionEvents { get; private set; }

    public bool CanSend(int bytes) => BytesInFlight + bytes <= Window;

    /// <summary>
    /// RFC 9002 §7.8 (and RFC 9438 §5.8 for CUBIC): the window is under-utilized — the sender last stopped with room
    /// in it and no pacing wait, for want of data or flow-control credit — so ACKs do not grow it. Without this a
    /// flow-control-limited sender's slow start never ended: the window grew by every acknowledged byte (to 3e9 in a
    /// 3 GB loopback transfer) and the pacing rate (1.25 × window / srtt) with it, i.e. pacing was off.
    /// </summary>
    public bool UnderUtilized { get; private set; }

    /// <summary>
    /// The sender stopped (nothing more to send now): held back by the window (<paramref name="windowFull"/>), by the
    /// pacer (<paramref name="paced"/>) or else for want of data or flow-control credit (under-utilized, §7.8).
    /// </summary>
    public void OnSendStopped(bool windowFull, bool paced) => UnderUtilized = !windowFull && !paced;

    /// <summary>The datagram size grew or shrank (Path MTU discovery): windows stay in bytes, CUBIC's segment counts are rescaled.</summary>
    public void SetMaxDatagramSize(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1200);
        if (bytes == _mss) return;
        double scale = (double)_mss / bytes;
        _wMax *= scale;
        _wEst *= scale;
        _cwndPrior *= scale;
        _epochStart = TimeSpan.MinValue; // K is recomputed in the new unit on the next ACK
        _mss = bytes;
        if (Window < MinWindow) Window = MinWindow;
    }

    /// <summary>The segment size the windows are counted in (the connection's current datagram size).</summary>
    public int MaxDatagramSize => _mss;

    public void OnSent(int bytes, TimeSpan now)
    {
        BytesInFlight += bytes;
        _tokens -= bytes;
    }

    /// <summary>An in-flight packet of <paramref name="bytes"/> sent at <paramref name="sentTime"/> was acknowledged at <paramref name="now"/>.</summary>
    public void OnAcked(int bytes, TimeSpan sentTime, TimeSpan now, TimeSpan smoothedRtt)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        if (sentTime <= _recoveryStart) return; // recovery period: no growth (RFC 9002 §7.3.2)
        if (UnderUtilized) return; // §7.8: no growth while the window is not what limits sending
        if (Window < SlowStartThreshold) { Window += bytes; return; }
        if (Algorithm == CongestionAlgorithm.Cubic) CubicOnAcked(bytes, now, smoothedRtt);
        else Window += Math.Max(1, (long)_mss * bytes / Window);
    }

    // ---- CUBIC (RFC 9438), windows in segments of _mss bytes, time in seconds ----
    private const double CubicC = 0.4;
    private const double CubicBeta = 0.7;
    private const double RenoFriendlyAlpha = 3 * (1 - CubicBeta) / (1 + CubicBeta);
    private TimeSpan _epochStart = TimeSpan.MinValue;
    private double _wMax, _k, _wEst, _cwndPrior;

    /// <summary>W_max: the window (segments) before the last reduction, lowered by fast convergence.</summary>
    internal double CubicWMax => _wMax;

    /// <summary>K: seconds from the start of the congestion-avoidance epoch until W_cubic reaches W_max again.</summary>
    internal double CubicK => _k;

    private void CubicOnAcked(int bytes, TimeSpan now, TimeSpan smoothedRtt)
    {
        double cwnd = (double)Window / _mss;
        double acked = (double)bytes / _mss;
        if (_epochStart == TimeSpan.MinValue)
        {
            // §4.2: a new congestion-avoidance epoch (first ACK after a reduction, or after slow start ended)
            _epochStart = now;
            if (_wMax <= cwnd) { _wMax = cwnd; _k = 0; }
            else _k = Math.Cbrt((_wMax - cwnd) / CubicC);
            _wEst = cwnd;
        }
        double t = (now - _epochStart).TotalSeconds;
        double rtt = smoothedRtt.TotalSeconds;
        // §4.3 Reno-friendly estimate; α becomes 1 once it has regained the window before the reduction
        _wEst += (_wEst >= _cwndPrior && _cwndPrior > 0 ? 1.0 : RenoFriendlyAlpha) * acked / cwnd;
        double wCubic = CubicW(t);
        double next;
        if (wCubic < _wEst) next = _wEst; // Reno-friendly region
        else
        {
            // §4.4/4.5 concave and convex regions: aim at W_cubic one RTT ahead, at most 1.5 × cwnd
            double target = Math.Clamp(CubicW(t + rtt), cwnd, 1.5 * cwnd);
            next = cwnd + (target - cwnd) / cwnd * acked;
        }
        long w = (long)(next * _mss);
        if (w > Window) Window = w;
    }

    private double CubicW(double t)
    {
        double d = t - _k;
        return CubicC * d * d * d + _wMax;
    }

    /// <summary>Removes lost bytes from flight (call for every lost packet), then <see cref="OnCongestionEvent"/> once.</summary>
    public void OnLostBytes(int bytes) => BytesInFlight = Math.Max(0, BytesInFlight - bytes);

    public void OnDiscarded(int bytes) => BytesInFlight = Math.Max(0, BytesInFlight - bytes);

    public void OnCongestionEvent(TimeSpan sentTimeOfLargestLost, TimeSpan now)
    {
        if (sentTimeOfLargestLost <= _recoveryStart) return; // one reduction per recovery period
        _recoveryStart = now;
        CongestionEvents++;
        if (Algorithm == CongestionAlgorithm.Cubic)
        {
            // §4.6 multiplicative decrease by β = 0.7; §4.7 fast convergence: a flow whose window did not regain
            // the last W_max releases bandwidth by remembering a lower one
            double cwnd = (double)Window / _mss;
            _wMax = cwnd < _wMax ? cwnd * (1 + CubicBeta) / 2 : cwnd;
            _cwndPrior = cwnd;
            _epochStart = TimeSpan.MinValue;
            SlowStartThreshold = Math.Max((long)(Window * CubicBeta), MinWindow);
        }
        else SlowStartThreshold = Math.Max(Window / 2, MinWindow);
        Window = SlowStartThreshold;
    }

    public void OnPersistentCongestion()
    {
        Window = MinWindow;
        _recoveryStart = TimeSpan.MinValue;
        _epochStart = TimeSpan.MinValue;
    }

    /// <summary>
    /// Pacing: how long until <paramref name="bytes"/> may leave (Zero = now). Datagrams leave in bursts of one
    /// timer tick's worth of the pacing rate (<see cref="PacingGranularity"/>, at least 2 datagrams), as Linux
    /// TCP's TSO autosizing and ngtcp2's send quantum do: once the bucket holds a quantum, datagrams go until it
    /// runs dry, then the sender waits — at least one tick — for the next whole quantum. Per-datagram pacing
    /// woke the sender on every ACK (RFC 9000's default: every second packet) to pass on the two or three
    /// datagrams the bucket had refilled, each as its own small send, and armed sub-millisecond timers that the
    /// runtime fires at once (session 8 counters with gtlsclient: 53 k pacing stops and 54 k sends per 200 MB).
    /// <c>OSPBRIDGE_QUIC_PACING=packet</c> restores per-datagram pacing (A/B).
    /// </summary>
    public TimeSpan PacingDelay(int bytes, TimeSpan now, TimeSpan srtt)
    {
        double rate = 1.25 * Window / Math.Max(srtt.TotalSeconds, 0.0005); // bytes per second
        if (PerPacketPacing) return PerPacketDelay(bytes, now, rate);
        double quantum = Math.Max(2.0 * _mss, rate * PacingGranularity.TotalSeconds);
        // room for two quanta: a late timer does not cost rate
        double depth = Math.Max(Math.Max(10.0 * _mss, Window / 8.0), 2 * quantum);
        Refill(now, rate, depth);
        // a burst lasts for one flush (the driver polls every datagram of a flush with the same now)
        if (_tokens >= bytes && (_burstAt == now || _tokens >= quantum))
        {
            _burstAt = now;
            return TimeSpan.Zero;
        }
        _burstAt = TimeSpan.MinValue;
        var wait = TimeSpan.FromSeconds((Math.Max(bytes, quantum) - _tokens) / rate) + TimeSpan.FromTicks(1);
        return wait < PacingGranularity ? PacingGranularity : wait;
    }

    private TimeSpan PerPacketDelay(int bytes, TimeSpan now, double rate)
    {
        Refill(now, rate, Math.Max(10.0 * _mss, Window / 8.0));
        if (_tokens >= bytes) return TimeSpan.Zero;
        return TimeSpan.FromSeconds((bytes - _tokens) / rate) + TimeSpan.FromTicks(1);
    }

    private void Refill(TimeSpan now, double rate, double depth)
    {
        if (now > _lastRefill)
        {
            _tokens = Math.Min(depth, _tokens + (now - _lastRefill).TotalSeconds * rate);
            _lastRefill = now;
        }
    }

    /// <summary>The pacer's tick: about what a runtime timer resolves (shorter due times fire at once, not later).</summary>
    public static readonly TimeSpan PacingGranularity = TimeSpan.FromMilliseconds(1);

    private static readonly bool PerPacketPacing = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_PACING") == "packet";
    private TimeSpan _burstAt = TimeSpan.MinValue;
}
