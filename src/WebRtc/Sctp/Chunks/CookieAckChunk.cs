namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// COOKIE ACK (RFC 9260 §3.3.12).
/// <code>
///  | Type = 11 | Chunk Flags | Length = 4 |
/// </code>
/// </summary>
internal static class CookieAckChunk
{
    public const int Length = 4;

    public static int Write(Span<byte> destination) => SctpChunkReader.WriteHeader(destination, SctpChunkType.CookieAck, 0, 0);
}
