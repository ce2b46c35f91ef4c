using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).</summary>
public enum RtcpPacketType : byte
{
    /// <summary>SR, sender report.</summary>
    SenderReport = 200,
    /// <summary>RR, receiver report.</summary>
    ReceiverReport = 201,
    /// <summary>SDES, source description.</summary>
    SourceDescription = 202,
    /// <summary>BYE, goodbye.</summary>
    Goodbye = 203,
    /// <summary>APP, application-defined.</summary>
    Application = 204,
    /// <summary>RTPFB, transport-layer feedback (generic NACK is FMT 1).</summary>
    TransportFeedback = 205,
    /// <summary>PSFB, payload-specific feedback (PLI FMT 1, FIR FMT 4, REMB FMT 15).</summary>
    PayloadFeedback = 206,
    /// <summary>XR, extended report (RFC 3611): RRTR (BT 4), DLRR (BT 5).</summary>
    ExtendedReport = 207,
}

/// <summary>
/// The common RTCP header (RFC 3550 §6.4.1).
/// <code>
///  |V=2|P|  RC/FMT |      PT       |             length            |
/// </code>
/// <c>length</c> counts 32-bit words minus one, including the header.
/// </summary>
/// <param name="Padding">Padding bit.</param>
/// <param name="Count">Report count, source count or feedback message type (5 bits).</param>
/// <param name="PacketType">Packet type.</param>
/// <param name="Length">The whole packet's length in octets (header included).</param>
public readonly record struct RtcpHeader(bool Padding, byte Count, byte PacketType, int Length)
{
    /// <summary>Header length.</summary>
    public const int Size = 4;

    /// <summary>Reads the header; false when the buffer is too short, the version is not 2, or the length runs past the buffer.</summary>
    public static bool TryRead(ReadOnlySpan<byte> buffer, out RtcpHeader header)
    {
        header = default;
        if (buffer.Length < Size || (buffer[0] >> 6) != 2)
            return false;
        int length = 4 * (BinaryPrimitives.ReadUInt16BigEndian(buffer.Slice(2)) + 1);
        if (length > buffer.Length)
            return false;
        header = new RtcpHeader((buffer[0] & 0x20) != 0, (byte)(buffer[0] & 0x1f), buffer[1], length);
        return true;
    }

    /// <summary>Writes a header for a packet of <paramref name="length"/> octets (a multiple of 4).</summary>
    public static void Write(Span<byte> destination, byte count, RtcpPacketType type, int length)
    {
        destination[0] = (byte)(0x80 | (count & 0x1f));
        destination[1] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), (ushort)(length / 4 - 1));
    }
}
