namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Heartbeat Info (RFC 9260 §3.3.5), the only parameter of HEARTBEAT / HEARTBEAT-ACK; echoed verbatim.
/// Our own info is 16 bytes: 8-byte nonce, 8-byte send time in ticks.
/// <code>
///  | Heartbeat Info Type = 1 | HB Info Length |
///  | Sender-Specific Heartbeat Info            |
/// </code>
/// </summary>
internal static class HeartbeatInfoParameter
{
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> info) => SctpParameterReader.Write(destination, SctpParameterType.HeartbeatInfo, info);
}
