using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>Helpers called by the generated message codecs.</summary>
internal static class OspCodec
{
    public static T Required<T>(T? value, string member)
        where T : class =>
        value ?? throw new CborException(CborError.SchemaViolation, $"{member} is required but null.");

    public static void WriteText(CborWriter writer, string? value, string member) =>
        CborOutput.WriteTextString(writer, Required(value, member));

    public static void WriteFloat64(CborWriter writer, double value) => CborOutput.WriteFloat64(writer, value);

    public static void WriteBytes(CborWriter writer, ReadOnlyMemory<byte> value, int? min, int? max, string member)
    {
        CheckSize(value.Length, min, max, member);
        writer.WriteByteString(value.Span);
    }

    public static ReadOnlyMemory<byte> ReadBytes(CborReader reader, int? min, int? max, string member)
    {
        // Decoded messages own their bytes (the input is often a pooled demux buffer): one copy, made by the library.
        byte[] bytes = reader.ReadByteString();
        CheckSize(bytes.Length, min, max, member);
        return bytes;
    }

    public static void WriteBytesOrText(CborWriter writer, BytesOrText value)
    {
        if (value.IsText)
        {
            CborOutput.WriteTextString(writer, value.Text!);
        }
        else
        {
            writer.WriteByteString(value.Bytes.Span);
        }
    }

    public static BytesOrText ReadBytesOrText(CborReader reader) =>
        reader.PeekState() switch
        {
            CborReaderState.TextString or CborReaderState.StartIndefiniteLengthTextString => BytesOrText.FromText(reader.ReadTextString()),
            CborReaderState.ByteString or CborReaderState.StartIndefiniteLengthByteString => BytesOrText.FromBytes(reader.ReadByteString()),
            var other => throw new CborException(CborError.UnexpectedType, $"Expected bytes or text but found {other}."),
        };

    public static NullOr<T> ReadNullOr<T>(CborReader reader, Func<CborReader, T> read)
    {
        if (reader.PeekState() == CborReaderState.Null)
        {
            reader.ReadNull();
            return default;
        }

        return new NullOr<T>(read(reader));
    }

    public static IReadOnlyList<T> ReadList<T>(CborReader reader, int minCount, string member, Func<CborReader, T> read)
    {
        int? count = reader.ReadStartArray();

        // The reader has already checked count against its limit and the bytes left; cap the initial
        // capacity anyway so a large announced count costs nothing until its elements really arrive.
        var list = new List<T>(Math.Min(count ?? 4, 64));
        while (count is null ? reader.PeekState() != CborReaderState.EndArray : list.Count < count)
        {
            list.Add(read(reader));
        }

        reader.ReadEndArray();
        CheckCount(list.Count, minCount, member);
        return list;
    }

    public static void CheckCount(int count, int minCount, string member)
    {
        if (count < minCount)
        {
            throw new CborException(CborError.SchemaViolation, $"{member} needs at least {minCount} element(s), has {count}.");
        }
    }

    public static void CheckArrayLength(int? count, int required, int total, string type)
    {
        if (count is int n && (n < required || n > total))
        {
            throw new CborException(CborError.SchemaViolation, $"{type} is an array of {required}..{total} elements, not {n}.");
        }
    }

    public static void MarkSeen(ref ulong seen, int key, string type)
    {
        ulong bit = 1UL << key;
        if ((seen & bit) != 0)
        {
            throw new CborException(CborError.DuplicateMapKey, $"{type} holds key {key} twice.");
        }

        seen |= bit;
    }

    public static void CheckRequired(ulong seen, ulong required, string type)
    {
        ulong missing = required & ~seen;
        if (missing != 0)
        {
            throw new CborException(CborError.SchemaViolation, $"{type} lacks required key {System.Numerics.BitOperations.TrailingZeroCount(missing)}.");
        }
    }

    /// <summary>
    /// Decodes the next data item of a caller's reader. The item is taken whole with
    /// <see cref="CborReader.ReadEncodedValue"/> (which leaves the reader unchanged when the item is not
    /// well-formed), then validated against <paramref name="limits"/> and decoded on its own; so a well-formed
    /// item that breaks a limit or the schema is consumed, and the reader stands on the next item.
    /// </summary>
    public static T DecodeFrom<T>(CborReader reader, CborLimits? limits, Func<CborReader, T> decodeCore)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ReadOnlyMemory<byte> item = CborInput.Read(reader, static r => r.ReadEncodedValue());
        return CborInput.Decode(item, decodeCore, limits);
    }

    public static byte[] Encode<T>(T value, Action<T, CborWriter> encode) => CborOutput.Encode(value, encode);

    public static bool BytesEquals(ReadOnlyMemory<byte> a, ReadOnlyMemory<byte> b) => a.Span.SequenceEqual(b.Span);

    public static bool BytesEquals(ReadOnlyMemory<byte>? a, ReadOnlyMemory<byte>? b) =>
        a.HasValue == b.HasValue && (!a.HasValue || a.GetValueOrDefault().Span.SequenceEqual(b.GetValueOrDefault().Span));

    public static bool ListEquals<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a is null || b is null || a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    public static string ToDiagnostic<T>(T value, Action<T, CborWriter> encode)
    {
        try
        {
            return CborDiagnostic.Format(CborOutput.Encode(value, encode));
        }
        catch (Exception e) when (e is CborException or ArgumentException or InvalidOperationException)
        {
            return $"<invalid: {e.Message}>";
        }
    }

    private static void CheckSize(int length, int? min, int? max, string member)
    {
        if ((min is int lo && length < lo) || (max is int hi && length > hi))
        {
            throw new CborException(CborError.SchemaViolation, $"{member} is {length} bytes; the schema requires {min}..{max}.");
        }
    }
}
