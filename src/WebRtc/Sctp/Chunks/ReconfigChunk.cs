using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// RE-CONFIG (RFC 6525 §3.1): one or two re-configuration parameters (requests and/or responses).
/// <code>
///  | Type = 130 | Chunk Flags | Chunk Length |
///  | Re-configuration Parameter               |
///  | Re-configuration Parameter (optional)    |
/// </code>
/// </summary>
internal static class ReconfigChunk
{
    /// <summary>Validates the parameter list: 1..2 well-formed parameters.</summary>
    public static bool TryValidate(ReadOnlySpan<byte> value)
    {
        var r = new SctpParameterReader(value);
        int n = 0;
        while (r.TryRead(out _, out _))
        {
            n++;
        }
        return r.AtEnd && n is >= 1 and <= 2;
    }

    /// <summary>
    /// Writes a RE-CONFIG chunk header around parameters already written at <c>destination[4..]</c>;
    /// <paramref name="parametersLength"/> excludes the last parameter's padding (RFC 9260 §3.2). Returns the padded length.
    /// </summary>
    public static int WriteHeader(Span<byte> destination, int parametersLength) =>
        SctpChunkReader.WriteHeader(destination, SctpChunkType.ReConfig, 0, parametersLength);
}
