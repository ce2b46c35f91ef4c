namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// Retransmission timeout per RFC 9260 §6.3.1: SRTT/RTTVAR with α = 1/8, β = 1/4, RTO = SRTT + 4·RTTVAR, clamped to
/// [min, max]; doubled on T3 expiry (§6.3.3 E2). Samples obey Karn's rule (the caller only feeds chunks sent once).
/// </summary>
internal sealed class RtoEstimator
{
    private readonly TimeSpan _min;
    private readonly TimeSpan _max;
    private bool _hasSample;
    private double _srtt;
    private double _rttvar;

    public RtoEstimator(TimeSpan initial, TimeSpan min, TimeSpan max)
    {
        _min = min;
        _max = max;
        Rto = initial;
    }

    public TimeSpan Rto { get; private set; }
    public TimeSpan? SmoothedRtt => _hasSample ? TimeSpan.FromTicks((long)_srtt) : null;

    public void AddSample(TimeSpan rtt)
    {
        double r = Math.Max(rtt.Ticks, 0);
        if (!_hasSample)
        {
            _srtt = r;
            _rttvar = r / 2;
            _hasSample = true;
        }
        else
        {
            _rttvar = (0.75 * _rttvar) + (0.25 * Math.Abs(_srtt - r));
            _srtt = (0.875 * _srtt) + (0.125 * r);
        }
        // G (clock granularity) of 1 ms keeps RTTVAR from collapsing to 0 on a perfectly steady link.
        var rto = TimeSpan.FromTicks((long)(_srtt + Math.Max(4 * _rttvar, TimeSpan.TicksPerMillisecond)));
        Rto = rto < _min ? _min : rto > _max ? _max : rto;
    }

    public void Backoff()
    {
        var doubled = Rto + Rto;
        Rto = doubled > _max ? _max : doubled;
    }
}
