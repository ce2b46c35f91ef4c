namespace OspBridge.WebRtc.DataChannels;

/// <summary>
/// DATA_CHANNEL_ACK (RFC 8832 §5.2), the answer to an OPEN, on the same stream with PPID 50.
/// <code>
///  | Message Type = 0x02 |
/// </code>
/// </summary>
internal static class DcepAckMessage
{
    public const byte MessageType = 0x02;

    /// <summary>The one-byte message.</summary>
    public static ReadOnlySpan<byte> Bytes => [MessageType];

    public static bool IsAck(ReadOnlySpan<byte> data) => data.Length == 1 && data[0] == MessageType;
}
