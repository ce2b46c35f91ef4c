namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// INIT-ACK (RFC 9260 §3.3.3): the INIT layout with type 2; the State Cookie parameter (7) is mandatory.
/// <code>
///  | Type = 2 | Chunk Flags | Chunk Length                 |
///  | Initiate Tag | a_rwnd | OS | MIS | Initial TSN        |
///  | State Cookie parameter + optional parameters          |
/// </code>
/// </summary>
internal static class InitAckChunk
{
    /// <summary>Parses like INIT (the same fixed part).</summary>
    public static bool TryParse(ReadOnlySpan<byte> value, out InitChunk chunk) => InitChunk.TryParse(value, out chunk);

    /// <summary>Writes an INIT-ACK whose parameters (including the cookie) are already serialized.</summary>
    public static int Write(Span<byte> destination, uint initiateTag, uint aRwnd, ushort outbound, ushort inbound, uint initialTsn, ReadOnlySpan<byte> parameters)
    {
        InitChunk.WriteFixed(destination.Slice(4), initiateTag, aRwnd, outbound, inbound, initialTsn);
        parameters.CopyTo(destination.Slice(4 + InitChunk.FixedLength));
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.InitAck, 0, InitChunk.FixedLength + parameters.Length);
    }
}
