using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// FIR: full intra request (RFC 5104 §4.3.1): PSFB (206), FMT 4; the media-source SSRC field is 0 and each FCI
/// entry names a source and a command sequence number.
/// <code>
///  |                              SSRC                             |
///  | Seq nr.       |    Reserved                                   |
/// </code>
/// </summary>
public readonly ref struct FullIntraRequest
{
    /// <summary>FMT value.</summary>
    public const byte Format = 4;

    private readonly ReadOnlySpan<byte> _fci;

    private FullIntraRequest(RtcpFeedbackHeader header, ReadOnlySpan<byte> fci)
    {
        Header = header;
        _fci = fci;
    }

    /// <summary>Sender SSRC (media SSRC is unused, 0).</summary>
    public RtcpFeedbackHeader Header { get; }

    /// <summary>Number of FCI entries.</summary>
    public int EntryCount => _fci.Length / 8;

    /// <summary>Entry <paramref name="index"/>: the source asked for a keyframe and the command sequence number.</summary>
    public (uint Ssrc, byte SequenceNumber) Entry(int index) => (uint)index < (uint)EntryCount
        ? (BinaryPrimitives.ReadUInt32BigEndian(_fci.Slice(8 * index)), _fci[8 * index + 4])
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Parses a FIR.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out FullIntraRequest fir)
    {
        fir = default;
        if (!RtcpFeedbackHeader.TryRead(packet, RtcpPacketType.PayloadFeedback, Format, out var h, out var fci) || fci.Length < 8)
            return false;
        fir = new FullIntraRequest(h, fci);
        return true;
    }

    /// <summary>Writes a FIR with one entry.</summary>
    public static bool TryWrite(Span<byte> destination, uint senderSsrc, uint mediaSsrc, byte sequenceNumber, out int written)
    {
        written = 0;
        const int length = RtcpFeedbackHeader.Size + 8;
        if (destination.Length < length)
            return false;
        new RtcpFeedbackHeader(Format, RtcpPacketType.PayloadFeedback, senderSsrc, 0).Write(destination, length);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(12), mediaSsrc);
        destination[16] = sequenceNumber;
        destination[17] = destination[18] = destination[19] = 0;
        written = length;
        return true;
    }
}
