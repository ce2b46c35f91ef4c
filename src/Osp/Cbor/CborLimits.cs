namespace OspBridge.Osp.Cbor;

/// <summary>
/// Limits and strictness for CBOR that comes from the network. <see cref="CborInput"/> checks every limit on
/// the raw bytes (on each item's head) before <see cref="System.Formats.Cbor.CborReader"/> sees them, so
/// nothing is buffered or allocated for an item that breaks a limit.
/// </summary>
public sealed class CborLimits
{
    /// <summary>The defaults: depth 32, collections ≤ 65 536 elements, strings ≤ 1 MiB, ≤ 1 048 576 items, lax.</summary>
    public static CborLimits Default { get; } = new();

    /// <summary>Maximum nesting of arrays, maps and tags (the top-level item is depth 0).</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Maximum number of elements an array (or pairs a map) may announce or hold.</summary>
    public int MaxCollectionLength { get; init; } = 65_536;

    /// <summary>Maximum length in bytes of a byte or text string (indefinite strings: the sum of their chunks).</summary>
    public int MaxStringLength { get; init; } = 1 << 20;

    /// <summary>Maximum number of data items (including keys, tags and chunks) in one top-level item.</summary>
    public int MaxItemCount { get; init; } = 1 << 20;

    /// <summary>
    /// When true, integers, lengths, tags and simple values must use the shortest head (RFC 8949 §4.2.1) and
    /// indefinite-length items are rejected; violations raise <see cref="CborError.NonCanonical"/>.
    /// Floats are exempt.
    /// </summary>
    public bool RequireShortestEncoding { get; init; }
}
