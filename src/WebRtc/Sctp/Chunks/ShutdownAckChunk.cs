namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// SHUTDOWN ACK (RFC 9260 §3.3.9).
/// <code>
///  | Type = 8 | Chunk Flags | Length = 4 |
/// </code>
/// </summary>
internal static class ShutdownAckChunk
{
    public const int Length = 4;

    public static int Write(Span<byte> destination) => SctpChunkReader.WriteHeader(destination, SctpChunkType.ShutdownAck, 0, 0);
}
