namespace OspBridge.WebRtc.Media;

/// <summary>What an <see cref="RtpReceiveStreamEvent"/> reports.</summary>
public enum RtpReceiveStreamEventKind
{
    /// <summary>A sender report of the remote source: <see cref="RtpReceiveStreamEvent.NtpTimestamp"/> ↔ <see cref="RtpReceiveStreamEvent.RtpTimestamp"/> (for lip sync).</summary>
    SenderReport,

    /// <summary>The remote source sent BYE.</summary>
    Goodbye,

    /// <summary>The remote source restarted its sequence numbers (RFC 3550 A.1): the reorder buffer and statistics were reset.</summary>
    SourceRestarted,

    /// <summary>
    /// Media now comes from another SSRC on this m-line (a camera or sender restart): sequence state, reorder ring and
    /// NACK list were reset, frame timestamps continue from the old source's (see <see cref="RtpReceiveStream.SsrcChanges"/>).
    /// </summary>
    SsrcChanged,
}

/// <summary>An event of an <see cref="RtpReceiveStream"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="NtpTimestamp">For <see cref="RtpReceiveStreamEventKind.SenderReport"/>: its NTP timestamp.</param>
/// <param name="RtpTimestamp">For <see cref="RtpReceiveStreamEventKind.SenderReport"/>: its RTP timestamp.</param>
public readonly record struct RtpReceiveStreamEvent(RtpReceiveStreamEventKind Kind, ulong NtpTimestamp = 0, uint RtpTimestamp = 0);

/// <summary>Counters of an <see cref="RtpReceiveStream"/> (RFC 3550 A.3 loss, A.8 jitter, repair).</summary>
/// <param name="PacketsReceived">Valid packets received (A.1 <c>received</c>, duplicates included).</param>
/// <param name="OctetsReceived">Payload octets received.</param>
/// <param name="CumulativeLost">Expected minus received (A.3).</param>
/// <param name="ExtendedHighestSequence">Cycles × 65536 + highest sequence number (A.1).</param>
/// <param name="Jitter">Interarrival jitter (A.8) in clock units.</param>
/// <param name="PacketsDiscarded">Packets dropped: foreign SSRC/PT, malformed, duplicate, too late or beyond the reorder window.</param>
/// <param name="NacksSent">NACK packets sent.</param>
/// <param name="PacketsRecovered">Missing packets that arrived after a NACK was sent for them (reordered packets that arrived before their first NACK are not counted).</param>
/// <param name="PacketsGivenUp">Missing packets given up (retries or age exhausted, or the gap too large to NACK).</param>
/// <param name="PlisSent">PLIs sent.</param>
/// <param name="FramesDelivered">Frames handed out.</param>
/// <param name="FramesDropped">Frames the depacketizer dropped (loss, malformed) plus delta frames dropped while waiting for a keyframe.</param>
public readonly record struct RtpReceiveStatistics(long PacketsReceived, long OctetsReceived, long CumulativeLost, uint ExtendedHighestSequence, uint Jitter,
    long PacketsDiscarded, long NacksSent, long PacketsRecovered, long PacketsGivenUp, long PlisSent, long FramesDelivered, long FramesDropped);
