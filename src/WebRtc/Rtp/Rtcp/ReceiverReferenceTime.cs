using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// RRTR: receiver reference time report block (RFC 3611 §4.4), XR block type 4, 12 octets. Lets a receiver that sends
/// no SR learn its RTT: the media sender echoes the NTP timestamp's middle 32 bits in a
/// <see cref="DelaySinceLastReceiverReport"/> sub-block.
/// <code>
///  |     BT=4      |   reserved    |       block length = 2        |
///  |              NTP timestamp, most significant word             |
///  |             NTP timestamp, least significant word             |
/// </code>
/// </summary>
public static class ReceiverReferenceTime
{
    /// <summary>XR block type.</summary>
    public const byte BlockType = 4;

    /// <summary>Length of the block.</summary>
    public const int BlockSize = 12;

    /// <summary>Length of an XR packet carrying only this block.</summary>
    public const int PacketSize = ExtendedReport.HeaderSize + BlockSize;

    /// <summary>Parses an RRTR block (as returned by <see cref="ExtendedReportBlockReader"/>).</summary>
    public static bool TryRead(ReadOnlySpan<byte> block, out ulong ntpTimestamp)
    {
        ntpTimestamp = 0;
        if (block.Length != BlockSize || block[0] != BlockType || BinaryPrimitives.ReadUInt16BigEndian(block.Slice(2)) != 2)
            return false;
        ntpTimestamp = BinaryPrimitives.ReadUInt64BigEndian(block.Slice(4));
        return true;
    }

    /// <summary>Writes an XR packet from <paramref name="ssrc"/> with one RRTR block.</summary>
    public static bool TryWrite(Span<byte> destination, uint ssrc, ulong ntpTimestamp, out int written)
    {
        written = 0;
        if (destination.Length < PacketSize)
            return false;
        ExtendedReport.WriteHeader(destination, ssrc, PacketSize);
        ExtendedReport.WriteBlockHeader(destination.Slice(ExtendedReport.HeaderSize), BlockType, 2);
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(ExtendedReport.HeaderSize + 4), ntpTimestamp);
        written = PacketSize;
        return true;
    }
}
