using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// RR: receiver report (RFC 3550 §6.4.2), PT 201, RC = number of report blocks.
/// <code>
///  |V=2|P|    RC   |   PT=RR=201   |             length            |
///  |                     SSRC of packet sender                     |
///  |                 report blocks (24 octets each)                |
/// </code>
/// </summary>
public readonly ref struct ReceiverReport
{
    private const int BlocksAt = 8;
    private readonly ReadOnlySpan<byte> _packet;

    private ReceiverReport(ReadOnlySpan<byte> packet, int count)
    {
        _packet = packet;
        ReportCount = count;
    }

    /// <summary>SSRC of the packet's sender.</summary>
    public uint Ssrc => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(4));

    /// <summary>Number of report blocks.</summary>
    public int ReportCount { get; }

    /// <summary>Report block <paramref name="index"/>.</summary>
    public ReceptionReport Report(int index) => (uint)index < (uint)ReportCount
        ? ReceptionReport.Read(_packet.Slice(BlocksAt + index * ReceptionReport.Size))
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Parses one RR packet.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out ReceiverReport report)
    {
        report = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)RtcpPacketType.ReceiverReport)
            return false;
        if (h.Length < BlocksAt + h.Count * ReceptionReport.Size)
            return false;
        report = new ReceiverReport(packet[..h.Length], h.Count);
        return true;
    }

    /// <summary>Writes an RR with up to 31 report blocks.</summary>
    public static bool TryWrite(Span<byte> destination, uint ssrc, ReadOnlySpan<ReceptionReport> reports, out int written)
    {
        written = BlocksAt + reports.Length * ReceptionReport.Size;
        if (reports.Length > 31 || destination.Length < written)
        {
            written = 0;
            return false;
        }
        RtcpHeader.Write(destination, (byte)reports.Length, RtcpPacketType.ReceiverReport, written);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), ssrc);
        for (int i = 0; i < reports.Length; i++)
            reports[i].Write(destination.Slice(BlocksAt + i * ReceptionReport.Size));
        return true;
    }
}
