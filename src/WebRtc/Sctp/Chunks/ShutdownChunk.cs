using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// SHUTDOWN (RFC 9260 §3.3.8).
/// <code>
///  | Type = 7 | Chunk Flags | Length = 8 |
///  | Cumulative TSN Ack                  |
/// </code>
/// </summary>
internal static class ShutdownChunk
{
    public const int Length = 8;

    public static bool TryParse(ReadOnlySpan<byte> value, out uint cumulativeTsnAck)
    {
        cumulativeTsnAck = 0;
        if (value.Length != 4)
        {
            return false;
        }
        cumulativeTsnAck = BinaryPrimitives.ReadUInt32BigEndian(value);
        return true;
    }

    public static int Write(Span<byte> destination, uint cumulativeTsnAck)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), cumulativeTsnAck);
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Shutdown, 0, 4);
    }
}
