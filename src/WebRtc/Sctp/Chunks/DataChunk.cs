using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// DATA (RFC 9260 §3.3.1).
/// <code>
///  | Type = 0 | Reserved |I|U|B|E| Length = 16 + payload  |
///  | TSN                                                   |
///  | Stream Identifier S       | Stream Sequence Number n  |
///  | Payload Protocol Identifier                           |
///  | User Data (seq n of Stream S), padded                 |
/// </code>
/// </summary>
internal readonly ref struct DataChunk
{
    public const int HeaderLength = 16;
    public const byte FlagEnd = 0x01;
    public const byte FlagBeginning = 0x02;
    public const byte FlagUnordered = 0x04;
    public const byte FlagImmediate = 0x08;

    public DataChunk(byte flags, uint tsn, ushort streamId, ushort ssn, uint ppid, ReadOnlySpan<byte> payload)
    {
        Flags = flags;
        Tsn = tsn;
        StreamId = streamId;
        Ssn = ssn;
        Ppid = ppid;
        Payload = payload;
    }

    public byte Flags { get; }
    public uint Tsn { get; }
    public ushort StreamId { get; }
    public ushort Ssn { get; }
    public uint Ppid { get; }
    public ReadOnlySpan<byte> Payload { get; }
    public bool Beginning => (Flags & FlagBeginning) != 0;
    public bool End => (Flags & FlagEnd) != 0;
    public bool Unordered => (Flags & FlagUnordered) != 0;

    /// <summary>Parses the value of a DATA chunk. An empty payload is invalid (RFC 9260: No User Data).</summary>
    public static bool TryParse(byte flags, ReadOnlySpan<byte> value, out DataChunk chunk)
    {
        chunk = default;
        if (value.Length < HeaderLength - 4 + 1)
        {
            return false;
        }
        chunk = new DataChunk(flags,
            BinaryPrimitives.ReadUInt32BigEndian(value),
            BinaryPrimitives.ReadUInt16BigEndian(value.Slice(4)),
            BinaryPrimitives.ReadUInt16BigEndian(value.Slice(6)),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(8)),
            value.Slice(12));
        return true;
    }

    /// <summary>Writes a DATA chunk; returns its padded length.</summary>
    public static int Write(Span<byte> destination, byte flags, uint tsn, ushort streamId, ushort ssn, uint ppid, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), tsn);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(8), streamId);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(10), ssn);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(12), ppid);
        payload.CopyTo(destination.Slice(HeaderLength));
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Data, flags, HeaderLength - 4 + payload.Length);
    }
}
