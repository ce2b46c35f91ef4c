namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// State Cookie (RFC 9260 §3.3.3.1), mandatory in INIT-ACK; its content is ours alone (see <see cref="StateCookie"/>).
/// <code>
///  | Parameter Type = 7 | Parameter Length |
///  | Cookie (opaque to the peer)           |
/// </code>
/// </summary>
internal static class StateCookieParameter
{
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> cookie) => SctpParameterReader.Write(destination, SctpParameterType.StateCookie, cookie);
}
