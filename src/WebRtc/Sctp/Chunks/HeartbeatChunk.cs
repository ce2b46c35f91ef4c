using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// HEARTBEAT (RFC 9260 §3.3.5): one Heartbeat Info parameter.
/// <code>
///  | Type = 4 | Chunk Flags | Heartbeat Length |
///  | Heartbeat Information TLV (Type = 1)      |
/// </code>
/// </summary>
internal static class HeartbeatChunk
{
    /// <summary>Extracts the info bytes from a HEARTBEAT or HEARTBEAT-ACK value.</summary>
    public static bool TryParse(ReadOnlySpan<byte> value, out ReadOnlySpan<byte> info)
    {
        info = default;
        var r = new SctpParameterReader(value);
        if (!r.TryRead(out var type, out info) || type != SctpParameterType.HeartbeatInfo)
        {
            info = default;
            return false;
        }
        return true;
    }

    public static int Write(Span<byte> destination, ReadOnlySpan<byte> info) => Write(destination, SctpChunkType.Heartbeat, info);

    internal static int Write(Span<byte> destination, byte type, ReadOnlySpan<byte> info)
    {
        HeartbeatInfoParameter.Write(destination.Slice(4), info);
        // The chunk length excludes the padding of its last parameter (RFC 9260 §3.2).
        return SctpChunkReader.WriteHeader(destination, type, 0, 4 + info.Length);
    }
}
