namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Forward-TSN-Supported (RFC 3758 §3.1), in INIT / INIT-ACK: the sender understands FORWARD-TSN.
/// <code>
///  | Parameter Type = 49152 (0xC000) | Parameter Length = 4 |
/// </code>
/// </summary>
internal static class ForwardTsnSupportedParameter
{
    public const int Length = 4;

    public static int Write(Span<byte> destination) => SctpParameterReader.Write(destination, SctpParameterType.ForwardTsnSupported, default);
}
