namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// ABORT (RFC 9260 §3.3.7). T bit set: the verification tag is the reflected one (the receiver's own).
/// <code>
///  | Type = 6 | Reserved |T| Length  |
///  | zero or more Error Causes       |
/// </code>
/// </summary>
internal static class AbortChunk
{
    public const byte FlagT = 0x01;

    /// <summary>Writes an ABORT carrying already-serialized error causes.</summary>
    public static int Write(Span<byte> destination, bool reflectedTag, ReadOnlySpan<byte> causes)
    {
        causes.CopyTo(destination.Slice(4));
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Abort, reflectedTag ? FlagT : (byte)0, causes.Length);
    }
}
