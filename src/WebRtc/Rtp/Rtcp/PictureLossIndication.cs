namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// PLI: picture loss indication (RFC 4585 §6.3.1): PSFB (206), FMT 1, no FCI. 12 octets.
/// </summary>
public static class PictureLossIndication
{
    /// <summary>FMT value.</summary>
    public const byte Format = 1;

    /// <summary>Length of a PLI.</summary>
    public const int Size = RtcpFeedbackHeader.Size;

    /// <summary>Parses a PLI.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out RtcpFeedbackHeader header) =>
        RtcpFeedbackHeader.TryRead(packet, RtcpPacketType.PayloadFeedback, Format, out header, out _);

    /// <summary>Writes a PLI.</summary>
    public static bool TryWrite(Span<byte> destination, uint senderSsrc, uint mediaSsrc, out int written)
    {
        written = 0;
        if (destination.Length < Size)
            return false;
        new RtcpFeedbackHeader(Format, RtcpPacketType.PayloadFeedback, senderSsrc, mediaSsrc).Write(destination, Size);
        written = Size;
        return true;
    }
}
