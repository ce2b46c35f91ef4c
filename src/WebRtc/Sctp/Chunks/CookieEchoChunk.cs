namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// COOKIE ECHO (RFC 9260 §3.3.11): returns the State Cookie from the INIT-ACK verbatim.
/// <code>
///  | Type = 10 | Chunk Flags | Length  |
///  | Cookie                            |
/// </code>
/// </summary>
internal static class CookieEchoChunk
{
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> cookie)
    {
        cookie.CopyTo(destination.Slice(4));
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.CookieEcho, 0, cookie.Length);
    }
}
