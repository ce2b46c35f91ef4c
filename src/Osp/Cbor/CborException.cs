namespace OspBridge.Osp.Cbor;

/// <summary>Error codes of the CBOR codec and of the OSP message codecs generated on top of it.</summary>
public enum CborError
{
    /// <summary>An unspecified internal error.</summary>
    InternalError = 0,
    /// <summary>The input ended inside a data item.</summary>
    Truncated,
    /// <summary>The input is not well-formed CBOR (reserved additional information, misplaced break, bad simple value, bad chunk).</summary>
    Malformed,
    /// <summary>A text string is not valid UTF-8.</summary>
    InvalidUtf8,
    /// <summary>The next data item has a different type than the one requested.</summary>
    UnexpectedType,
    /// <summary>An integer does not fit the requested .NET type.</summary>
    IntegerOverflow,
    /// <summary>Arrays, maps and tags nest deeper than <see cref="CborLimits.MaxDepth"/>.</summary>
    DepthLimitExceeded,
    /// <summary>A string is longer than <see cref="CborLimits.MaxStringLength"/>.</summary>
    StringLengthLimitExceeded,
    /// <summary>An array or map announces more elements than <see cref="CborLimits.MaxCollectionLength"/>, or the input holds more items than <see cref="CborLimits.MaxItemCount"/>.</summary>
    ItemCountLimitExceeded,
    /// <summary>Bytes follow the single expected data item.</summary>
    TrailingData,
    /// <summary>A map holds the same key twice (where keys are checked).</summary>
    DuplicateMapKey,
    /// <summary>The data is valid CBOR but does not match the message schema (missing required field, wrong size, empty non-empty array).</summary>
    SchemaViolation,
    /// <summary>The encoding is valid but not the one the active conformance rules require (e.g. not shortest form).</summary>
    NonCanonical,
}

/// <summary>
/// The one exception type of the CBOR codec (and the OSP message codecs generated on top of it);
/// <see cref="Error"/> says what went wrong. Parsing untrusted input throws only this type.
/// </summary>
public sealed class CborException : Exception
{
    /// <summary>Creates an exception with an error code and a message.</summary>
    public CborException(CborError error, string message, Exception? inner = null) : base(message, inner) => Error = error;

    /// <summary>What went wrong.</summary>
    public CborError Error { get; }
}
