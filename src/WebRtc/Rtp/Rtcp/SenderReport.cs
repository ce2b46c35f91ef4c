using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// SR: sender report (RFC 3550 §6.4.1), PT 200, RC = number of report blocks.
/// <code>
///  |V=2|P|    RC   |   PT=SR=200   |             length            |
///  |                         SSRC of sender                        |
///  |              NTP timestamp, most significant word             |
///  |             NTP timestamp, least significant word             |
///  |                         RTP timestamp                         |
///  |                     sender's packet count                     |
///  |                      sender's octet count                     |
///  |                 report blocks (24 octets each)                |
/// </code>
/// </summary>
public readonly ref struct SenderReport
{
    private const int BlocksAt = 28;
    private readonly ReadOnlySpan<byte> _packet;

    private SenderReport(ReadOnlySpan<byte> packet, int count)
    {
        _packet = packet;
        ReportCount = count;
    }

    /// <summary>SSRC of the sender.</summary>
    public uint Ssrc => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(4));

    /// <summary>64-bit NTP timestamp (RFC 5905 format) of this report.</summary>
    public ulong NtpTimestamp => BinaryPrimitives.ReadUInt64BigEndian(_packet.Slice(8));

    /// <summary>RTP timestamp corresponding to <see cref="NtpTimestamp"/>.</summary>
    public uint RtpTimestamp => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(16));

    /// <summary>Packets sent.</summary>
    public uint PacketCount => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(20));

    /// <summary>Payload octets sent.</summary>
    public uint OctetCount => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(24));

    /// <summary>Number of report blocks.</summary>
    public int ReportCount { get; }

    /// <summary>Report block <paramref name="index"/>.</summary>
    public ReceptionReport Report(int index) => (uint)index < (uint)ReportCount
        ? ReceptionReport.Read(_packet.Slice(BlocksAt + index * ReceptionReport.Size))
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Parses one SR packet (as returned by <see cref="RtcpCompoundReader"/>).</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out SenderReport report)
    {
        report = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)RtcpPacketType.SenderReport)
            return false;
        if (h.Length < BlocksAt + h.Count * ReceptionReport.Size)
            return false;
        report = new SenderReport(packet[..h.Length], h.Count);
        return true;
    }

    /// <summary>Writes an SR with up to 31 report blocks.</summary>
    public static bool TryWrite(Span<byte> destination, uint ssrc, ulong ntpTimestamp, uint rtpTimestamp, uint packetCount, uint octetCount,
        ReadOnlySpan<ReceptionReport> reports, out int written)
    {
        written = BlocksAt + reports.Length * ReceptionReport.Size;
        if (reports.Length > 31 || destination.Length < written)
        {
            written = 0;
            return false;
        }
        RtcpHeader.Write(destination, (byte)reports.Length, RtcpPacketType.SenderReport, written);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), ssrc);
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(8), ntpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(16), rtpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(20), packetCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(24), octetCount);
        for (int i = 0; i < reports.Length; i++)
            reports[i].Write(destination.Slice(BlocksAt + i * ReceptionReport.Size));
        return true;
    }
}
