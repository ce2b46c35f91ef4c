namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Supported Extensions (RFC 5061 §4.2.7): chunk types beyond RFC 9260 the sender supports.
/// <code>
///  | Parameter Type = 0x8008 | Parameter Length |
///  | CHUNK TYPE 1 | CHUNK TYPE 2 | ... (padded)   |
/// </code>
/// </summary>
internal static class SupportedExtensionsParameter
{
    /// <summary>True if <paramref name="value"/> lists <paramref name="chunkType"/>.</summary>
    public static bool Contains(ReadOnlySpan<byte> value, byte chunkType) => value.IndexOf(chunkType) >= 0;

    public static int Write(Span<byte> destination, ReadOnlySpan<byte> chunkTypes) => SctpParameterReader.Write(destination, SctpParameterType.SupportedExtensions, chunkTypes);
}
