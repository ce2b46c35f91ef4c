using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// The SCTP common header (RFC 9260 §3.1). Over DTLS (RFC 8261) there is no IP/UDP encapsulation: a packet is
/// exactly one DTLS application-data record payload.
/// <code>
///  0                   1                   2                   3
///  |     Source Port Number        |     Destination Port Number   |
///  |                      Verification Tag                         |
///  |                           Checksum (CRC32c, little-endian)    |
///  |  chunk #1 ... chunk #n (each padded to 4 bytes)               |
/// </code>
/// </summary>
internal readonly struct SctpCommonHeader
{
    /// <summary>Length of the common header.</summary>
    public const int Length = 12;

    public SctpCommonHeader(ushort sourcePort, ushort destinationPort, uint verificationTag)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        VerificationTag = verificationTag;
    }

    public ushort SourcePort { get; }
    public ushort DestinationPort { get; }
    public uint VerificationTag { get; }

    /// <summary>Reads the header and verifies the CRC32c over the whole packet. False if short or corrupt.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out SctpCommonHeader header)
    {
        header = default;
        if (packet.Length < Length + 4)
        {
            return false;
        }
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(packet.Slice(8));
        uint crc = ComputeChecksum(packet);
        if (crc != stored)
        {
            return false;
        }
        header = new SctpCommonHeader(
            BinaryPrimitives.ReadUInt16BigEndian(packet),
            BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(2)),
            BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(4)));
        return true;
    }

    /// <summary>Writes the header with a zero checksum; call <see cref="Seal"/> after the chunks are written.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), VerificationTag);
        BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(8), 0);
    }

    /// <summary>Computes and stores the checksum of a complete packet.</summary>
    public static void Seal(Span<byte> packet)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(packet.Slice(8), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(packet.Slice(8), Crc32c.Compute(packet));
    }

    /// <summary>CRC32c of the packet with the checksum field taken as zero.</summary>
    public static uint ComputeChecksum(ReadOnlySpan<byte> packet)
    {
        uint c = Crc32c.UpdateTableOrSse(0xFFFFFFFF, packet.Slice(0, 8));
        c = Crc32c.UpdateTableOrSse(c, [0, 0, 0, 0]);
        c = Crc32c.UpdateTableOrSse(c, packet.Slice(12));
        return ~c;
    }
}
