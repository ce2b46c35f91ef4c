using System.Security.Cryptography;

namespace OspBridge.WebRtc.Media;

/// <summary>Settings of one <see cref="RtpReceiveStream"/>.</summary>
public sealed class RtpReceiveStreamOptions
{
    /// <summary>Randomness for the local SSRC (when not given) and the report interval jitter. Required.</summary>
    public RandomNumberGenerator? Random { get; init; }

    /// <summary>Codec received.</summary>
    public MediaCodec Codec { get; init; } = MediaCodec.H264;

    /// <summary>Only packets of this payload type are media; null = any (except <see cref="RtxPayloadType"/>).</summary>
    public byte? PayloadType { get; init; }

    /// <summary>The sender's media SSRC; 0 = the first SSRC seen.</summary>
    public uint RemoteSsrc { get; init; }

    /// <summary>RTX payload type (RFC 4588); packets with it carry an original sequence number and are unwrapped. Null = no RTX.</summary>
    public byte? RtxPayloadType { get; init; }

    /// <summary>The sender's RTX SSRC; 0 = accept any SSRC for <see cref="RtxPayloadType"/>.</summary>
    public uint RtxSsrc { get; init; }

    /// <summary>SSRC this receiver puts in its RTCP; 0 = random.</summary>
    public uint LocalSsrc { get; init; }

    /// <summary>Packets held for reordering (rounded up to a power of two, 16–8192). Default 512.</summary>
    public int ReorderBufferPackets { get; init; } = 512;

    /// <summary>Send generic NACKs (RFC 4585 §6.2.1) for missing packets. Default true.</summary>
    public bool Nack { get; init; } = true;

    /// <summary>Missing sequence numbers tracked for NACK at most (a larger gap is not NACKed). Default 256.</summary>
    public int MaxNackList { get; init; } = 256;

    /// <summary>NACKs sent per missing packet before giving up. Default 10.</summary>
    public int NackMaxRetries { get; init; } = 10;

    /// <summary>How long a gap may stay open (reordering) before its first NACK. Default 5 ms.</summary>
    public TimeSpan NackDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>A missing packet is given up after this long. Default 1 s.</summary>
    public TimeSpan NackMaxAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>RTT assumed until <see cref="RtpReceiveStream.RoundTripTime"/> is set; a NACK is repeated after one RTT (at least 10 ms). Default 100 ms.</summary>
    public TimeSpan DefaultRoundTripTime { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long delivery waits for a missing packet that is not (or no longer) being NACKed; also the start-up hold
    /// before the first delivery, so that packets of the first burst that arrive out of order are not lost. Default 50 ms.
    /// </summary>
    public TimeSpan MaxReorderWait { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Video: drop delta frames until a keyframe arrives (at the start and after a broken frame) and send PLIs meanwhile. Default true.</summary>
    public bool WaitForKeyframe { get; init; } = true;

    /// <summary>Least time between two PLIs. Default 500 ms.</summary>
    public TimeSpan PliMinInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Send a REMB with each receiver report (video). Default true.</summary>
    public bool Remb { get; init; } = true;

    /// <summary>
    /// The most a REMB invites the sender to send (bit/s), and the first REMB's value: a LAN camera bridge is rarely
    /// bandwidth-limited, so the estimate starts here and only loss brings it down. Default 10 Mbit/s.
    /// </summary>
    public long RembMaxBitrate { get; init; } = 10_000_000;

    /// <summary>
    /// Send an XR receiver reference time block (RFC 3611 RRTR) with each periodic receiver report, so a sender that
    /// answers with DLRR gives this receive-only stream its RTT (<see cref="RtpReceiveStream.MeasuredRoundTripTime"/>,
    /// which then paces NACK retries). Default true.
    /// </summary>
    public bool ReceiverReferenceTime { get; init; } = true;

    /// <summary>
    /// Accept a new media SSRC on this m-line once the current one has been silent this long (or said BYE): a restarted
    /// sender or camera (new SSRC, sequence and timestamp base). Zero or negative: never switch. Default 500 ms.
    /// </summary>
    public TimeSpan SsrcSwitchAfterSilence { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Mean receiver report interval; each interval is randomized to [0.5, 1.5] × this (RFC 3550 §6.3.1). Default 1 s.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Feedback (NACK, PLI) as lone packets (RFC 5506 reduced-size RTCP, negotiated with a=rtcp-rsize — Chromium
    /// always does). False: each is preceded by an RR and an SDES CNAME, a full compound (RFC 3550 §6.1). Default true.
    /// </summary>
    public bool ReducedSizeFeedback { get; init; } = true;

    /// <summary>RTCP CNAME, at most 255 octets of UTF-8.</summary>
    public string CName { get; init; } = "ospbridge";
}
