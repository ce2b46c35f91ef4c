using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// A reception report block of SR/RR (RFC 3550 §6.4.1), 24 octets.
/// <code>
///  |                 SSRC_1 (SSRC of first source)                 |
///  | fraction lost |       cumulative number of packets lost       |
///  |           extended highest sequence number received           |
///  |                      interarrival jitter                      |
///  |                         last SR (LSR)                         |
///  |                   delay since last SR (DLSR)                  |
/// </code>
/// </summary>
/// <param name="Ssrc">Source this block reports on.</param>
/// <param name="FractionLost">Fraction lost since the previous report, in 1/256.</param>
/// <param name="CumulativeLost">Cumulative packets lost (24-bit signed).</param>
/// <param name="ExtendedHighestSequence">Cycles × 65536 + highest sequence number received.</param>
/// <param name="Jitter">Interarrival jitter in timestamp units.</param>
/// <param name="LastSenderReport">Middle 32 bits of the NTP timestamp of the last SR received.</param>
/// <param name="DelaySinceLastSenderReport">Delay since that SR in 1/65536 s.</param>
public readonly record struct ReceptionReport(uint Ssrc, byte FractionLost, int CumulativeLost, uint ExtendedHighestSequence, uint Jitter, uint LastSenderReport, uint DelaySinceLastSenderReport)
{
    /// <summary>Block length.</summary>
    public const int Size = 24;

    /// <summary>Reads a block from at least <see cref="Size"/> octets.</summary>
    public static ReceptionReport Read(ReadOnlySpan<byte> b)
    {
        int lost = (b[5] << 16) | (b[6] << 8) | b[7];
        if ((lost & 0x800000) != 0)
            lost |= unchecked((int)0xff000000);
        return new ReceptionReport(BinaryPrimitives.ReadUInt32BigEndian(b), b[4], lost,
            BinaryPrimitives.ReadUInt32BigEndian(b.Slice(8)), BinaryPrimitives.ReadUInt32BigEndian(b.Slice(12)),
            BinaryPrimitives.ReadUInt32BigEndian(b.Slice(16)), BinaryPrimitives.ReadUInt32BigEndian(b.Slice(20)));
    }

    /// <summary>Writes the block into at least <see cref="Size"/> octets (the cumulative loss is clamped to 24 bits).</summary>
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, Ssrc);
        int lost = Math.Clamp(CumulativeLost, -0x800000, 0x7fffff);
        b[4] = FractionLost;
        b[5] = (byte)(lost >> 16);
        b[6] = (byte)(lost >> 8);
        b[7] = (byte)lost;
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(8), ExtendedHighestSequence);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(12), Jitter);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(16), LastSenderReport);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(20), DelaySinceLastSenderReport);
    }
}
