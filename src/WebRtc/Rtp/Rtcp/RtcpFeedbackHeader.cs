using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// The common part of RTCP feedback messages (RFC 4585 §6.1): header with FMT, packet sender SSRC, media source
/// SSRC, then the feedback control information (FCI).
/// <code>
///  |V=2|P|   FMT   |       PT      |          length               |
///  |                  SSRC of packet sender                        |
///  |                  SSRC of media source                         |
///  :            Feedback Control Information (FCI)                 :
/// </code>
/// </summary>
/// <param name="Format">FMT (feedback message type).</param>
/// <param name="PacketType">205 (transport) or 206 (payload-specific).</param>
/// <param name="SenderSsrc">SSRC of the packet sender.</param>
/// <param name="MediaSsrc">SSRC of the media source.</param>
public readonly record struct RtcpFeedbackHeader(byte Format, RtcpPacketType PacketType, uint SenderSsrc, uint MediaSsrc)
{
    /// <summary>Length of header + both SSRCs.</summary>
    public const int Size = 12;

    /// <summary>Reads a feedback packet of type <paramref name="type"/> and format <paramref name="format"/>; the FCI comes back sliced.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, RtcpPacketType type, byte format, out RtcpFeedbackHeader header, out ReadOnlySpan<byte> fci)
    {
        header = default;
        fci = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)type || h.Count != format || h.Length < Size)
            return false;
        var body = RtcpCompoundReader.WithoutPadding(h, packet[..h.Length]);
        if (body.Length < Size)
            return false;
        header = new RtcpFeedbackHeader(format, type, BinaryPrimitives.ReadUInt32BigEndian(body.Slice(4)), BinaryPrimitives.ReadUInt32BigEndian(body.Slice(8)));
        fci = body.Slice(Size);
        return true;
    }

    /// <summary>Writes the header and SSRCs for a packet of <paramref name="length"/> octets.</summary>
    public void Write(Span<byte> destination, int length)
    {
        RtcpHeader.Write(destination, Format, PacketType, length);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), SenderSsrc);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(8), MediaSsrc);
    }
}
