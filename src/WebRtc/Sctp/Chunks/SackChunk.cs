using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// SACK (RFC 9260 §3.3.4). Gap block offsets are relative to the cumulative TSN ack.
/// <code>
///  | Type = 3 | Chunk Flags | Chunk Length                           |
///  | Cumulative TSN Ack                                              |
///  | Advertised Receiver Window Credit (a_rwnd)                      |
///  | Number of Gap Ack Blocks = N | Number of Duplicate TSNs = M     |
///  | Gap Ack Block #1 Start       | Gap Ack Block #1 End             |  ... N
///  | Duplicate TSN 1                                                 |  ... M
/// </code>
/// </summary>
internal readonly ref struct SackChunk
{
    public const int FixedLength = 12;

    private readonly ReadOnlySpan<byte> _gaps;
    private readonly ReadOnlySpan<byte> _dups;

    private SackChunk(uint cumulativeTsnAck, uint aRwnd, ReadOnlySpan<byte> gaps, ReadOnlySpan<byte> dups)
    {
        CumulativeTsnAck = cumulativeTsnAck;
        AdvertisedReceiverWindow = aRwnd;
        _gaps = gaps;
        _dups = dups;
    }

    public uint CumulativeTsnAck { get; }
    public uint AdvertisedReceiverWindow { get; }
    public int GapBlockCount => _gaps.Length / 4;
    public int DuplicateCount => _dups.Length / 4;
    public (ushort Start, ushort End) GapBlock(int i) => (BinaryPrimitives.ReadUInt16BigEndian(_gaps.Slice(i * 4)), BinaryPrimitives.ReadUInt16BigEndian(_gaps.Slice((i * 4) + 2)));
    public uint Duplicate(int i) => BinaryPrimitives.ReadUInt32BigEndian(_dups.Slice(i * 4));

    /// <summary>Parses a SACK; the counts must match the length exactly.</summary>
    public static bool TryParse(ReadOnlySpan<byte> value, out SackChunk chunk)
    {
        chunk = default;
        if (value.Length < FixedLength)
        {
            return false;
        }
        int gaps = BinaryPrimitives.ReadUInt16BigEndian(value.Slice(8));
        int dups = BinaryPrimitives.ReadUInt16BigEndian(value.Slice(10));
        if (value.Length != FixedLength + (4 * gaps) + (4 * dups))
        {
            return false;
        }
        chunk = new SackChunk(
            BinaryPrimitives.ReadUInt32BigEndian(value),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(4)),
            value.Slice(FixedLength, 4 * gaps),
            value.Slice(FixedLength + (4 * gaps), 4 * dups));
        return true;
    }

    /// <summary>Writes a SACK; returns the padded length.</summary>
    public static int Write(Span<byte> destination, uint cumTsnAck, uint aRwnd, ReadOnlySpan<(ushort Start, ushort End)> gaps, ReadOnlySpan<uint> duplicates)
    {
        var v = destination.Slice(4);
        BinaryPrimitives.WriteUInt32BigEndian(v, cumTsnAck);
        BinaryPrimitives.WriteUInt32BigEndian(v.Slice(4), aRwnd);
        BinaryPrimitives.WriteUInt16BigEndian(v.Slice(8), (ushort)gaps.Length);
        BinaryPrimitives.WriteUInt16BigEndian(v.Slice(10), (ushort)duplicates.Length);
        int o = FixedLength;
        foreach (var (s, e) in gaps)
        {
            BinaryPrimitives.WriteUInt16BigEndian(v.Slice(o), s);
            BinaryPrimitives.WriteUInt16BigEndian(v.Slice(o + 2), e);
            o += 4;
        }
        foreach (var d in duplicates)
        {
            BinaryPrimitives.WriteUInt32BigEndian(v.Slice(o), d);
            o += 4;
        }
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Sack, 0, o);
    }
}
