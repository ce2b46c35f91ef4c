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

    private const int EntrySize = 8;

    private readonly RtcpFeedbackEntries _entries;

    private FullIntraRequest(RtcpFeedbackEntries entries) => _entries = entries;

    /// <summary>Sender SSRC (media SSRC is unused, 0).</summary>
    public RtcpFeedbackHeader Header => _entries.Header;

    /// <summary>Number of FCI entries.</summary>
    public int EntryCount => _entries.Count;

    /// <summary>Entry <paramref name="index"/>: the source asked for a keyframe and the command sequence number.</summary>
    public (uint Ssrc, byte SequenceNumber) Entry(int index)
    {
        var entry = _entries[index];
        return (BinaryPrimitives.ReadUInt32BigEndian(entry), entry[4]);
    }

    /// <summary>Parses a FIR.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out FullIntraRequest fir)
    {
        bool ok = RtcpFeedbackEntries.TryRead(packet, RtcpPacketType.PayloadFeedback, Format, EntrySize, out var entries);
        fir = new FullIntraRequest(entries);
        return ok;
    }

    /// <summary>Writes a FIR with one entry.</summary>
    public static bool TryWrite(Span<byte> destination, uint senderSsrc, uint mediaSsrc, byte sequenceNumber, out int written)
    {
        written = 0;
        const int length = RtcpFeedbackHeader.Size + EntrySize;
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
