using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// FORWARD TSN (RFC 3758 §3.2): moves the receiver's cumulative TSN past abandoned chunks.
/// <code>
///  | Type = 192 | Flags = 0x00 | Length = Variable |
///  | New Cumulative TSN                            |
///  | Stream-1              | Stream Sequence-1     |  (ordered streams only)
///  | ...                                           |
/// </code>
/// </summary>
internal readonly ref struct ForwardTsnChunk
{
    private readonly ReadOnlySpan<byte> _streams;

    private ForwardTsnChunk(uint newCumulativeTsn, ReadOnlySpan<byte> streams)
    {
        NewCumulativeTsn = newCumulativeTsn;
        _streams = streams;
    }

    public uint NewCumulativeTsn { get; }
    public int StreamCount => _streams.Length / 4;
    public (ushort Stream, ushort Ssn) Entry(int i) => (BinaryPrimitives.ReadUInt16BigEndian(_streams.Slice(i * 4)), BinaryPrimitives.ReadUInt16BigEndian(_streams.Slice((i * 4) + 2)));

    public static bool TryParse(ReadOnlySpan<byte> value, out ForwardTsnChunk chunk)
    {
        chunk = default;
        if (value.Length < 4 || (value.Length - 4) % 4 != 0)
        {
            return false;
        }
        chunk = new ForwardTsnChunk(BinaryPrimitives.ReadUInt32BigEndian(value), value.Slice(4));
        return true;
    }

    public static int Write(Span<byte> destination, uint newCumulativeTsn, ReadOnlySpan<(ushort Stream, ushort Ssn)> entries)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), newCumulativeTsn);
        int o = 8;
        foreach (var (s, n) in entries)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(o), s);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(o + 2), n);
            o += 4;
        }
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.ForwardTsn, 0, o - 4);
    }
}
