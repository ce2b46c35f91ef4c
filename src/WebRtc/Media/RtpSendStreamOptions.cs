using System.Security.Cryptography;

namespace OspBridge.WebRtc.Media;

/// <summary>Settings of one <see cref="RtpSendStream"/>.</summary>
public sealed class RtpSendStreamOptions
{
    /// <summary>Randomness for the SSRCs (when not given), the first sequence number and the timestamp offset. Required.</summary>
    public RandomNumberGenerator? Random { get; init; }

    /// <summary>Codec sent.</summary>
    public MediaCodec Codec { get; init; } = MediaCodec.H264;

    /// <summary>Negotiated payload type (0–127).</summary>
    public byte PayloadType { get; init; } = 96;

    /// <summary>Media SSRC; 0 = random.</summary>
    public uint Ssrc { get; init; }

    /// <summary>RTX payload type (RFC 4588) — when set, NACKed packets are resent on the RTX stream; null = resend the original packet.</summary>
    public byte? RtxPayloadType { get; init; }

    /// <summary>RTX SSRC; 0 = random (only used with <see cref="RtxPayloadType"/>).</summary>
    public uint RtxSsrc { get; init; }

    /// <summary>Largest RTP packet written (header included, SRTP tag not included). Default 1200.</summary>
    public int MaxPacketSize { get; init; } = 1200;

    /// <summary>One-byte header extension id of the SDES mid (RFC 8843 §15.2), 1–14; 0 = not sent.</summary>
    public byte MidExtensionId { get; init; }

    /// <summary>The mid value sent in <see cref="MidExtensionId"/> (1–16 octets).</summary>
    public string? Mid { get; init; }

    /// <summary>Packets kept for retransmission (rounded up to a power of two, 16–8192). Default 512.</summary>
    public int RetransmissionBufferPackets { get; init; } = 512;

    /// <summary>Packets older than this are not retransmitted. Default 1 s.</summary>
    public TimeSpan RetransmissionMaxAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Keyframe requests (PLI/FIR) closer together than this are merged into one event. Default 300 ms.</summary>
    public TimeSpan KeyframeRequestMinInterval { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Sender report interval. Default 1 s.</summary>
    public TimeSpan SenderReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Wall-clock time at <c>now</c> = 0 (the driver's input; used only for the NTP field of sender reports).</summary>
    public DateTimeOffset WallClockOrigin { get; init; }

    /// <summary>RTCP CNAME (RFC 3550 §6.5.1), at most 255 octets of UTF-8.</summary>
    public string CName { get; init; } = "ospbridge";
}
