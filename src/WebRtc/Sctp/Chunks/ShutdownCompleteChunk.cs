namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// SHUTDOWN COMPLETE (RFC 9260 §3.3.13). T bit: reflected verification tag.
/// <code>
///  | Type = 14 | Reserved |T| Length = 4 |
/// </code>
/// </summary>
internal static class ShutdownCompleteChunk
{
    public const int Length = 4;

    public static int Write(Span<byte> destination, bool reflectedTag) =>
        SctpChunkReader.WriteHeader(destination, SctpChunkType.ShutdownComplete, reflectedTag ? AbortChunk.FlagT : (byte)0, 0);
}
