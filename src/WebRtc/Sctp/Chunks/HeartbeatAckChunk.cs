namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// HEARTBEAT ACK (RFC 9260 §3.3.6): echoes the Heartbeat Info of the HEARTBEAT.
/// <code>
///  | Type = 5 | Chunk Flags | Heartbeat Ack Length |
///  | Heartbeat Information TLV (copied)            |
/// </code>
/// </summary>
internal static class HeartbeatAckChunk
{
    public static bool TryParse(ReadOnlySpan<byte> value, out ReadOnlySpan<byte> info) => HeartbeatChunk.TryParse(value, out info);

    public static int Write(Span<byte> destination, ReadOnlySpan<byte> info) => HeartbeatChunk.Write(destination, SctpChunkType.HeartbeatAck, info);
}
