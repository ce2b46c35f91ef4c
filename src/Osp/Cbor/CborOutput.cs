using System.Buffers;
using System.Buffers.Binary;
using System.Formats.Cbor;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// The seam between our encoders and <see cref="CborWriter"/> (System.Formats.Cbor): the float widths CDDL and
/// RFC 8949 ask for, RFC 8949 §4.2.1 core deterministic encoding, and a per-thread writer cache for hot paths.
/// </summary>
/// <remarks>
/// System.Formats.Cbor always writes shortest integer heads, and in its lax and strict modes
/// <see cref="CborWriter.WriteDouble"/> already writes the shortest exact float. What it does not offer:
/// an always-binary64 float in those modes (CDDL <c>float64</c>), a canonical NaN for every NaN payload, and the
/// bytewise key order of RFC 8949 §4.2.1 (its <c>Canonical</c> mode sorts length-first as RFC 7049 did, and
/// <c>Ctap2Canonical</c> rejects tags and always writes binary64).
/// </remarks>
public static class CborOutput
{
    [ThreadStatic]
    private static CborWriter? _threadCachedWriter;

    /// <summary>
    /// Creates a writer in <see cref="CborConformanceMode.Strict"/> mode: definite or indefinite containers,
    /// shortest heads, no duplicate map keys, no reserved simple values, valid UTF-16 text only.
    /// </summary>
    public static CborWriter CreateWriter(int initialCapacity = 256) =>
        new(CborConformanceMode.Strict, initialCapacity: initialCapacity);

    /// <summary>Writes a binary64 float, always 9 bytes (what CDDL <c>float64</c> asks for).</summary>
    public static void WriteFloat64(CborWriter writer, double value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<byte> encoded = stackalloc byte[9];
        encoded[0] = 0xFB;
        BinaryPrimitives.WriteDoubleBigEndian(encoded[1..], value);
        writer.WriteEncodedValue(encoded);
    }

    /// <summary>
    /// Writes a float in the shortest of binary16/32/64 that holds it exactly (RFC 8949 §4.2.2 preferred
    /// serialization); every NaN becomes the canonical <c>f9 7e00</c>.
    /// </summary>
    public static void WritePreferredDouble(CborWriter writer, double value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (double.IsNaN(value))
        {
            writer.WriteHalf(BitConverter.UInt16BitsToHalf(0x7E00));
        }
        else if ((double)(Half)value == value)
        {
            writer.WriteHalf((Half)value);
        }
        else if ((double)(float)value == value)
        {
            writer.WriteSingle((float)value);
        }
        else
        {
            WriteFloat64(writer, value);
        }
    }

    /// <summary>Writes <paramref name="value"/> as a text string after checking it is valid UTF-16.</summary>
    /// <exception cref="ArgumentException">The text holds an unpaired surrogate (lax writers would replace it silently).</exception>
    public static void WriteTextString(CborWriter writer, string value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        if (!IsValidUtf16(value))
        {
            throw new ArgumentException("Text is not valid UTF-16 (unpaired surrogate).", nameof(value));
        }

        writer.WriteTextString(value);
    }

    /// <summary>True when <paramref name="text"/> holds no unpaired surrogate.</summary>
    internal static bool IsValidUtf16(ReadOnlySpan<char> text)
    {
        int i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
        {
            return true;
        }

        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Copies the complete encoding of <paramref name="writer"/> into <paramref name="output"/>.</summary>
    public static void CopyTo(CborWriter writer, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(output);
        Span<byte> span = output.GetSpan(writer.BytesWritten);
        int written = writer.Encode(span);
        output.Advance(written);
    }

    /// <summary>
    /// Re-encodes one data item in RFC 8949 §4.2.1 core deterministic encoding: shortest heads, definite
    /// lengths, preferred floats, map entries sorted by the bytes of their encoded keys.
    /// </summary>
    /// <param name="encoded">One data item.</param>
    /// <param name="limits">Limits the input is validated against.</param>
    /// <param name="keepFloatWidths">Keep each float at the width it was written with (RFC 8949 §4.2.2 lets a
    /// protocol ask for that; CDDL <c>float64</c> members are binary64 by definition).</param>
    /// <exception cref="CborException">The input is not one well-formed item (<see cref="CborInput.Validate"/>),
    /// or a map holds the same key twice (<see cref="CborError.DuplicateMapKey"/>).</exception>
    public static byte[] ToDeterministic(ReadOnlyMemory<byte> encoded, CborLimits? limits = null, bool keepFloatWidths = false)
    {
        CborReader reader = CborInput.CreateReader(encoded, limits);
        var writer = new CborWriter(CborConformanceMode.Lax);
        try
        {
            CopyDeterministic(reader, writer, keepFloatWidths);
        }
        catch (Exception e) when (CborInput.IsLibraryException(e))
        {
            throw CborInput.ToCborException(e);
        }

        return writer.Encode();
    }

    /// <summary>Encodes with a cached lax writer (valid for well-formed writes by our generated code) and returns the bytes.</summary>
    internal static byte[] Encode<T>(T value, Action<T, CborWriter> encode)
    {
        CborWriter writer = RentWriter();
        try
        {
            encode(value, writer);
            return writer.Encode();
        }
        finally
        {
            ReturnWriter(writer);
        }
    }

    /// <summary>Takes the per-thread lax writer (or a new one when it is in use, e.g. re-entrantly).</summary>
    internal static CborWriter RentWriter()
    {
        CborWriter? writer = _threadCachedWriter;
        _threadCachedWriter = null;
        return writer ?? new CborWriter(CborConformanceMode.Lax, initialCapacity: 256);
    }

    /// <summary>Resets <paramref name="writer"/> and keeps it for the next <see cref="RentWriter"/> on this thread.</summary>
    internal static void ReturnWriter(CborWriter writer)
    {
        writer.Reset();
        _threadCachedWriter = writer;
    }

    private static void CopyDeterministic(CborReader reader, CborWriter writer, bool keepFloatWidths)
    {
        switch (reader.PeekState())
        {
            case CborReaderState.UnsignedInteger:
                writer.WriteUInt64(reader.ReadUInt64());
                break;
            case CborReaderState.NegativeInteger:
                writer.WriteCborNegativeIntegerRepresentation(reader.ReadCborNegativeIntegerRepresentation());
                break;
            case CborReaderState.ByteString:
            case CborReaderState.StartIndefiniteLengthByteString:
                writer.WriteByteString(reader.ReadByteString());
                break;
            case CborReaderState.TextString:
            case CborReaderState.StartIndefiniteLengthTextString:
                writer.WriteTextString(reader.ReadTextString());
                break;
            case CborReaderState.StartArray:
            {
                reader.ReadStartArray();
                var items = new List<byte[]>();
                while (reader.PeekState() != CborReaderState.EndArray)
                {
                    items.Add(Sub(reader, keepFloatWidths));
                }

                reader.ReadEndArray();
                writer.WriteStartArray(items.Count);
                foreach (byte[] item in items)
                {
                    writer.WriteEncodedValue(item);
                }

                writer.WriteEndArray();
                break;
            }

            case CborReaderState.StartMap:
            {
                reader.ReadStartMap();
                var entries = new List<(byte[] Key, byte[] Value)>();
                while (reader.PeekState() != CborReaderState.EndMap)
                {
                    entries.Add((Sub(reader, keepFloatWidths), Sub(reader, keepFloatWidths)));
                }

                reader.ReadEndMap();
                entries.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
                for (int i = 1; i < entries.Count; i++)
                {
                    if (entries[i - 1].Key.AsSpan().SequenceEqual(entries[i].Key))
                    {
                        throw new CborException(CborError.DuplicateMapKey, "A map holds the same key twice.");
                    }
                }

                writer.WriteStartMap(entries.Count);
                foreach ((byte[] key, byte[] value) in entries)
                {
                    writer.WriteEncodedValue(key);
                    writer.WriteEncodedValue(value);
                }

                writer.WriteEndMap();
                break;
            }

            case CborReaderState.Tag:
                writer.WriteTag(reader.ReadTag());
                CopyDeterministic(reader, writer, keepFloatWidths);
                break;
            case CborReaderState.Boolean:
                writer.WriteBoolean(reader.ReadBoolean());
                break;
            case CborReaderState.Null:
                reader.ReadNull();
                writer.WriteNull();
                break;
            case CborReaderState.SimpleValue:
                writer.WriteSimpleValue(reader.ReadSimpleValue());
                break;
            case CborReaderState.HalfPrecisionFloat:
            case CborReaderState.SinglePrecisionFloat:
            case CborReaderState.DoublePrecisionFloat:
                if (keepFloatWidths)
                {
                    writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
                }
                else
                {
                    WritePreferredDouble(writer, reader.ReadDouble());
                }

                break;
            default:
                throw new CborException(CborError.UnexpectedType, $"No data item at {reader.PeekState()}.");
        }

        static byte[] Sub(CborReader reader, bool keepFloatWidths)
        {
            var sub = new CborWriter(CborConformanceMode.Lax);
            CopyDeterministic(reader, sub, keepFloatWidths);
            return sub.Encode();
        }
    }
}
