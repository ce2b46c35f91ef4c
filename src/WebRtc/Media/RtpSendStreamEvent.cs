namespace OspBridge.WebRtc.Media;

/// <summary>What an <see cref="RtpSendStreamEvent"/> reports.</summary>
public enum RtpSendStreamEventKind
{
    /// <summary>The receiver asked for a keyframe (PLI or FIR), rate-limited by <see cref="RtpSendStreamOptions.KeyframeRequestMinInterval"/>.</summary>
    KeyframeRequested,

    /// <summary>A REMB for this stream: <see cref="RtpSendStreamEvent.Bitrate"/> bit/s.</summary>
    BitrateEstimate,

    /// <summary>A reception report for this stream arrived; see <see cref="RtpSendStream.Statistics"/>.</summary>
    ReceiverReport,
}

/// <summary>An event of an <see cref="RtpSendStream"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Bitrate">For <see cref="RtpSendStreamEventKind.BitrateEstimate"/>: the estimate in bit/s.</param>
public readonly record struct RtpSendStreamEvent(RtpSendStreamEventKind Kind, ulong Bitrate = 0);

/// <summary>Counters and receiver feedback of an <see cref="RtpSendStream"/>.</summary>
/// <param name="PacketsSent">Media packets sent (RFC 3550 sender's packet count; retransmissions not included).</param>
/// <param name="OctetsSent">Payload octets sent (sender's octet count).</param>
/// <param name="PacketsRetransmitted">Packets resent because of NACKs.</param>
/// <param name="NacksReceived">Generic NACK packets received for this stream.</param>
/// <param name="NackedPacketsUnavailable">NACKed sequence numbers no longer (or never) in the retransmission buffer.</param>
/// <param name="KeyframeRequests">PLI/FIR received (before rate limiting).</param>
/// <param name="PacketsDroppedUnsent">Packets overwritten in the buffer before the driver polled them.</param>
/// <param name="RoundTripTime">Last RTT from a reception report (LSR/DLSR, RFC 3550 §6.4.1); null before one arrived.</param>
/// <param name="FractionLost">Last reported fraction lost (0–1).</param>
/// <param name="CumulativeLost">Last reported cumulative loss.</param>
/// <param name="Jitter">Last reported interarrival jitter in clock units.</param>
/// <param name="PliReceived">PLIs received for this stream (part of <paramref name="KeyframeRequests"/>).</param>
/// <param name="FirReceived">FIR entries received for this stream (part of <paramref name="KeyframeRequests"/>).</param>
/// <param name="BitrateEstimate">The last REMB for this stream in bit/s; null before one arrived.</param>
public readonly record struct RtpSendStatistics(long PacketsSent, long OctetsSent, long PacketsRetransmitted, long NacksReceived,
    long NackedPacketsUnavailable, long KeyframeRequests, long PacketsDroppedUnsent, TimeSpan? RoundTripTime, double FractionLost, int CumulativeLost, uint Jitter,
    long PliReceived = 0, long FirReceived = 0, ulong? BitrateEstimate = null)
{
    /// <summary>XR RRTR blocks received from receivers (RFC 3611 §4.4); each is answered by a DLRR sub-block with the next SR.</summary>
    public long RrtrReceived { get; init; }
}
