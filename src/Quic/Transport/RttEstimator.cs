namespace OspBridge.Quic.Transport;

/// <summary>RTT estimation (RFC 9002 §5): min_rtt, smoothed_rtt, rttvar from ACK samples.</summary>
internal sealed class RttEstimator
{
    public static readonly TimeSpan Granularity = TimeSpan.FromMilliseconds(1);

    public RttEstimator(TimeSpan initialRtt)
    {
        SmoothedRtt = initialRtt;
        RttVar = initialRtt / 2;
        MinRtt = TimeSpan.Zero;
    }

    public TimeSpan LatestRtt { get; private set; }
    public TimeSpan SmoothedRtt { get; private set; }
    public TimeSpan RttVar { get; private set; }
    public TimeSpan MinRtt { get; private set; }
    public bool HasSample { get; private set; }

    public void Update(TimeSpan latest, TimeSpan ackDelay, bool handshakeConfirmed, TimeSpan maxAckDelay)
    {
        if (latest < TimeSpan.Zero) latest = TimeSpan.Zero;
        LatestRtt = latest;
        if (!HasSample)
        {
            HasSample = true;
            MinRtt = latest;
            SmoothedRtt = latest;
            RttVar = latest / 2;
            return;
        }
        if (latest < MinRtt) MinRtt = latest;
        if (handshakeConfirmed && ackDelay > maxAckDelay) ackDelay = maxAckDelay;
        var adjusted = latest;
        if (latest >= MinRtt + ackDelay) adjusted = latest - ackDelay;
        var diff = SmoothedRtt - adjusted;
        if (diff < TimeSpan.Zero) diff = -diff;
        RttVar = (3 * RttVar + diff) / 4;
        SmoothedRtt = (7 * SmoothedRtt + adjusted) / 8;
    }

    /// <summary>PTO base duration without max_ack_delay: smoothed_rtt + max(4*rttvar, granularity).</summary>
    public TimeSpan PtoBase => SmoothedRtt + (4 * RttVar > Granularity ? 4 * RttVar : Granularity);
}
