using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// Generic NACK (RFC 4585 §6.2.1): RTPFB (205), FMT 1. Each FCI entry names a lost packet (PID) and a bitmask of
/// the 16 following ones (BLP, bit i set = PID+i+1 lost).
/// <code>
///  |            PID                |             BLP               |
/// </code>
/// </summary>
public readonly ref struct GenericNack
{
    /// <summary>FMT value.</summary>
    public const byte Format = 1;

    private const int EntrySize = 4;

    private readonly RtcpFeedbackEntries _entries;

    private GenericNack(RtcpFeedbackEntries entries) => _entries = entries;

    /// <summary>Sender and media SSRCs.</summary>
    public RtcpFeedbackHeader Header => _entries.Header;

    /// <summary>Number of FCI entries.</summary>
    public int ItemCount => _entries.Count;

    /// <summary>FCI entry <paramref name="index"/>: (PID, BLP).</summary>
    public (ushort Pid, ushort Blp) Item(int index)
    {
        var entry = _entries[index];
        return (BinaryPrimitives.ReadUInt16BigEndian(entry), BinaryPrimitives.ReadUInt16BigEndian(entry.Slice(2)));
    }

    /// <summary>Writes every lost sequence number this NACK names into <paramref name="destination"/> (at most 17 per entry); returns the count written.</summary>
    public int CopyLostSequenceNumbers(Span<ushort> destination)
    {
        int n = 0;
        for (int i = 0; i < ItemCount; i++)
        {
            var (pid, blp) = Item(i);
            if (n < destination.Length)
                destination[n++] = pid;
            for (int b = 0; b < 16; b++)
            {
                if ((blp & (1 << b)) != 0 && n < destination.Length)
                    destination[n++] = (ushort)(pid + b + 1);
            }
        }
        return n;
    }

    /// <summary>Parses a generic NACK.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out GenericNack nack)
    {
        bool ok = RtcpFeedbackEntries.TryRead(packet, RtcpPacketType.TransportFeedback, Format, EntrySize, out var entries);
        nack = new GenericNack(entries);
        return ok;
    }

    /// <summary>
    /// Writes a generic NACK for <paramref name="lost"/> (ascending in RTP sequence order, wrap allowed), packing
    /// runs into PID/BLP entries. Returns false when it does not fit or nothing is lost.
    /// </summary>
    public static bool TryWrite(Span<byte> destination, uint senderSsrc, uint mediaSsrc, ReadOnlySpan<ushort> lost, out int written)
    {
        written = 0;
        if (lost.IsEmpty)
            return false;
        int at = RtcpFeedbackHeader.Size;
        int i = 0;
        while (i < lost.Length)
        {
            if (at + EntrySize > destination.Length || at + EntrySize > 4 * 0x10000)
                return false;
            ushort pid = lost[i++];
            ushort blp = 0;
            while (i < lost.Length)
            {
                int d = (ushort)(lost[i] - pid);
                if (d is < 1 or > 16)
                    break;
                blp |= (ushort)(1 << (d - 1));
                i++;
            }
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(at), pid);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(at + 2), blp);
            at += EntrySize;
        }
        new RtcpFeedbackHeader(Format, RtcpPacketType.TransportFeedback, senderSsrc, mediaSsrc).Write(destination, at);
        written = at;
        return true;
    }
}
