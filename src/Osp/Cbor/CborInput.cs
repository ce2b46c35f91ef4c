using System.Formats.Cbor;
using System.Text;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// The seam between untrusted bytes and <see cref="CborReader"/> (System.Formats.Cbor). The library does not
/// bound nesting depth, string lengths, collection counts or item counts, accepts some input RFC 8949 calls
/// not well-formed in its lax mode (two-byte simple values below 32) and raises several exception types.
/// Everything here first checks the raw bytes against <see cref="CborLimits"/> and RFC 8949 Appendix C
/// (strict UTF-8 included), on each head before anything is buffered, and maps every library exception
/// to <see cref="CborException"/>: input from the network never escapes as another exception type.
/// </summary>
public static class CborInput
{
    [ThreadStatic]
    private static CborItemScanner? _threadDefaultScanner;

    /// <summary>
    /// Checks that <paramref name="data"/> starts with one well-formed data item within <paramref name="limits"/>
    /// and returns its length in bytes.
    /// </summary>
    /// <param name="data">The encoded item.</param>
    /// <param name="limits">Limits to enforce (<see cref="CborLimits.Default"/> when null).</param>
    /// <param name="allowTrailingData">When false, bytes after the item raise <see cref="CborError.TrailingData"/>.</param>
    /// <exception cref="CborException">The input is truncated, malformed, not valid UTF-8, exceeds a limit or has trailing bytes.</exception>
    public static int Validate(ReadOnlySpan<byte> data, CborLimits? limits = null, bool allowTrailingData = false)
    {
        CborItemScanner scanner;
        if (limits is null || ReferenceEquals(limits, CborLimits.Default))
        {
            scanner = _threadDefaultScanner ??= new CborItemScanner(CborLimits.Default);
            scanner.Reset();
        }
        else
        {
            scanner = new CborItemScanner(limits);
        }

        int length = scanner.Advance(data);
        if (length < 0)
        {
            throw new CborException(CborError.Truncated, "The input ends inside a data item.");
        }

        if (!allowTrailingData && length != data.Length)
        {
            throw new CborException(CborError.TrailingData, $"{data.Length - length} byte(s) follow the data item.");
        }

        return length;
    }

    /// <summary>
    /// Validates <paramref name="data"/> (see <see cref="Validate"/>) and returns a lax-mode
    /// <see cref="CborReader"/> over exactly the one data item it holds.
    /// </summary>
    /// <exception cref="CborException">The input fails validation.</exception>
    public static CborReader CreateReader(ReadOnlyMemory<byte> data, CborLimits? limits = null, bool allowTrailingData = false)
    {
        int length = Validate(data.Span, limits, allowTrailingData);
        return new CborReader(data[..length], CborConformanceMode.Lax);
    }

    /// <summary>
    /// Validates <paramref name="data"/>, which must hold exactly one data item, and decodes it with
    /// <paramref name="decode"/>. Library exceptions raised while decoding become <see cref="CborException"/>,
    /// as does an item that <paramref name="decode"/> leaves partly unread.
    /// </summary>
    /// <exception cref="CborException">The input fails validation, does not match what <paramref name="decode"/> expects, or is not read completely.</exception>
    public static T Decode<T>(ReadOnlyMemory<byte> data, Func<CborReader, T> decode, CborLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(decode);
        Validate(data.Span, limits);
        return DecodeValidated(data, decode);
    }

    /// <summary>
    /// Runs one read on <paramref name="reader"/> and turns any exception System.Formats.Cbor raises for bad
    /// content or a wrong type into <see cref="CborException"/> (see <see cref="ToCborException"/>).
    /// </summary>
    /// <exception cref="CborException">The read failed.</exception>
    public static T Read<T>(CborReader reader, Func<CborReader, T> read)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(read);
        try
        {
            return read(reader);
        }
        catch (Exception e) when (IsLibraryException(e))
        {
            throw ToCborException(e);
        }
    }

    /// <summary>
    /// Maps an exception of System.Formats.Cbor to <see cref="CborException"/> (kept as the inner exception):
    /// <see cref="CborContentException"/> → <see cref="CborError.Malformed"/> (<see cref="CborError.InvalidUtf8"/>
    /// when caused by a UTF-8 decoder fallback), <see cref="InvalidOperationException"/> (the next item has
    /// another type, or a container is not finished) → <see cref="CborError.UnexpectedType"/>,
    /// <see cref="OverflowException"/> → <see cref="CborError.IntegerOverflow"/>,
    /// <see cref="FormatException"/> and <see cref="DecoderFallbackException"/> → <see cref="CborError.InvalidUtf8"/>
    /// or <see cref="CborError.Malformed"/>. A <see cref="CborException"/> is returned unchanged.
    /// </summary>
    public static CborException ToCborException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            CborException cbor => cbor,
            CborContentException { InnerException: DecoderFallbackException } => new(CborError.InvalidUtf8, exception.Message, exception),
            CborContentException => new(CborError.Malformed, exception.Message, exception),
            DecoderFallbackException => new(CborError.InvalidUtf8, exception.Message, exception),
            OverflowException => new(CborError.IntegerOverflow, exception.Message, exception),
            FormatException => new(CborError.Malformed, exception.Message, exception),
            InvalidOperationException => new(CborError.UnexpectedType, exception.Message, exception),
            _ => new(CborError.InternalError, exception.Message, exception),
        };
    }

    /// <summary>Decodes input that already passed <see cref="Validate"/> (or the demuxer's scanner).</summary>
    internal static T DecodeValidated<T>(ReadOnlyMemory<byte> item, Func<CborReader, T> decode)
    {
        var reader = new CborReader(item, CborConformanceMode.Lax);
        T value;
        try
        {
            value = decode(reader);
        }
        catch (Exception e) when (IsLibraryException(e))
        {
            throw ToCborException(e);
        }

        if (reader.BytesRemaining != 0 || reader.CurrentDepth != 0)
        {
            throw new CborException(CborError.SchemaViolation, "The decoder left part of the data item unread.");
        }

        return value;
    }

    /// <summary>Exceptions System.Formats.Cbor raises for input it cannot read as asked (never programming errors of ours like <see cref="NullReferenceException"/>).</summary>
    internal static bool IsLibraryException(Exception e) =>
        e is CborContentException or InvalidOperationException or OverflowException or FormatException or DecoderFallbackException;
}
