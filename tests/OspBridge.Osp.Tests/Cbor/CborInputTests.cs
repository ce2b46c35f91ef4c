using System.Formats.Cbor;
using OspBridge.Osp.Cbor;
using OspBridge.Testing;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>
/// The seam in front of System.Formats.Cbor: validation (well-formedness, UTF-8, limits before buffering) and
/// the mapping of library exceptions, plus the library reader properties our decoders rely on.
/// </summary>
public sealed class CborInputTests
{
    private static CborReader Lax(string hex) => new(Convert.FromHexString(hex), CborConformanceMode.Lax);

    private static CborError Error(Action action) => Assert.Throws<CborException>(action).Error;

    private static void AssertUnchanged(CborReader reader, int remaining, CborReaderState state)
    {
        // "Ensure reader state is preserved": a failed read consumes nothing.
        Assert.Equal(remaining, reader.BytesRemaining);
        Assert.Equal(state, reader.PeekState());
    }

    [Fact]
    public void Failed_reads_leave_position_and_state_unchanged()
    {
        var reader = Lax("83" + "01" + "6161" + "1a0001"); // [1, "a", truncated uint32]
        Assert.Equal(3, reader.ReadStartArray());
        Assert.Equal(1UL, reader.ReadUInt64());

        Assert.Equal(CborError.UnexpectedType, Error(() => CborInput.Read(reader, r => r.ReadUInt64()))); // wrong type: text
        AssertUnchanged(reader, 5, CborReaderState.TextString);

        Assert.Equal(CborError.UnexpectedType, Error(() => CborInput.Read(reader, r => r.ReadStartMap())));
        Assert.Equal(CborError.UnexpectedType, Error(() => CborInput.Read(reader, r => { r.ReadEndArray(); return 0; })));
        AssertUnchanged(reader, 5, CborReaderState.TextString);
        Assert.Equal("a", reader.ReadTextString());

        // The library reports truncation as a content error (Malformed); the seam's validation names it Truncated.
        Assert.Equal(CborError.Malformed, Error(() => CborInput.Read(reader, r => r.ReadUInt64())));
        Assert.Equal(3, reader.BytesRemaining);
        Assert.Equal(CborError.Malformed, Error(() => CborInput.Read(reader, r => { r.SkipValue(); return 0; })));
        Assert.Equal(3, reader.BytesRemaining);
        Assert.Equal(CborError.Truncated, Error(() => CborInput.Validate(Convert.FromHexString("83016161" + "1a0001"))));
    }

    [Fact]
    public void SkipValue_rolls_back_a_partially_skipped_container()
    {
        var reader = Lax("82" + "a201020304" + "9f01025f4101"); // [{1:2,3:4}, [_ 1, 2, (_ h'01' <eof>
        Assert.Equal(2, reader.ReadStartArray());
        reader.SkipValue();
        int before = reader.BytesRemaining;
        Assert.Equal(CborError.Malformed, Error(() => CborInput.Read(reader, r => { r.SkipValue(); return 0; })));
        AssertUnchanged(reader, before, CborReaderState.StartArray);
        Assert.Equal(1, reader.CurrentDepth);

        Assert.Throws<CborException>(() => CborInput.Read(reader, r => r.ReadEncodedValue()));
        AssertUnchanged(reader, before, CborReaderState.StartArray);
        Assert.Equal(CborError.Truncated, Error(() => CborInput.Validate(Convert.FromHexString("82a2010203049f01025f4101"))));
    }

    [Fact]
    public void ReadEncodedValue_returns_a_slice_of_the_input()
    {
        byte[] data = Convert.FromHexString("82a1016161f6");
        CborReader reader = CborInput.CreateReader(data);
        reader.ReadStartArray();
        ReadOnlyMemory<byte> map = reader.ReadEncodedValue();
        Assert.Equal("a1016161", Convert.ToHexStringLower(map.Span));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(map, out ArraySegment<byte> segment));
        Assert.Same(data, segment.Array);
        reader.ReadNull();
        reader.ReadEndArray();
        Assert.Equal(CborReaderState.Finished, reader.PeekState());
    }

    [Fact]
    public void Definite_strings_are_slices_not_copies()
    {
        byte[] data = Convert.FromHexString("824401020304" + "6449455446");
        CborReader reader = CborInput.CreateReader(data);
        reader.ReadStartArray();
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.ReadDefiniteLengthByteString(), out ArraySegment<byte> bytes));
        Assert.Same(data, bytes.Array);
        Assert.Equal(2, bytes.Offset);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.ReadDefiniteLengthTextStringBytes(), out ArraySegment<byte> text));
        Assert.Same(data, text.Array);
        Assert.Equal(7, text.Offset);
    }

    [Theory]
    [InlineData("1c", CborError.Malformed)]          // reserved additional information 28
    [InlineData("5d", CborError.Malformed)]          // 29 on a byte string
    [InlineData("3f", CborError.Malformed)]          // indefinite negative integer
    [InlineData("df", CborError.Malformed)]          // indefinite tag
    [InlineData("ff", CborError.Malformed)]          // break at top level
    [InlineData("f818", CborError.Malformed)]        // two-byte simple value < 32 (the library's lax mode accepts it)
    [InlineData("18", CborError.Truncated)]
    [InlineData("1b00000000", CborError.Truncated)]
    [InlineData("62c3", CborError.Truncated)]
    [InlineData("62c328", CborError.InvalidUtf8)]    // (the library's lax mode accepts it)
    [InlineData("62eda0", CborError.InvalidUtf8)]
    [InlineData("63eda080", CborError.InvalidUtf8)]  // encoded surrogate
    [InlineData("5f4101ff" + "00", CborError.TrailingData)]
    [InlineData("5f6101ff", CborError.Malformed)]    // text chunk in a byte string
    [InlineData("5f5f4101ffff", CborError.Malformed)] // nested indefinite chunk
    [InlineData("bf01ff", CborError.Malformed)]      // break after a key
    [InlineData("9b7fffffffffffffff", CborError.ItemCountLimitExceeded)]
    [InlineData("8200", CborError.Truncated)]
    [InlineData("a1010203", CborError.TrailingData)]
    [InlineData("c1ff", CborError.Malformed)]        // tag followed by break
    [InlineData("81c1", CborError.Truncated)]
    [InlineData("7f62c3ff", CborError.InvalidUtf8)]  // a chunk is checked on its own
    public void Malformed_input_raises_the_right_error(string hex, CborError expected)
    {
        byte[] data = Convert.FromHexString(hex);
        Assert.Equal(expected, Error(() => CborInput.Validate(data)));
        Assert.Equal(expected, Error(() => CborInput.CreateReader(data)));
        Assert.Equal(expected, Error(() => CborInput.Decode(data, r => { r.SkipValue(); return 0; })));
    }

    [Fact]
    public void Announced_lengths_are_checked_before_allocation()
    {
        // A 4 GiB byte string in 5 bytes: rejected on its head, and nothing is allocated for it.
        var unlimited = new CborLimits { MaxStringLength = int.MaxValue };
        byte[] huge = Convert.FromHexString("5affffffff");
        byte[] hugeButUnderLimit = Convert.FromHexString("5a7ffffff0");
        byte[] manyElements = Convert.FromHexString("9a00010000");
        var manyAllowed = new CborLimits { MaxCollectionLength = 1 << 20 };
        Error(() => CborInput.Validate(huge, unlimited)); // warm up (exception machinery)
        long allocated = Allocations.LeastOf(3, () =>
        {
            Assert.Equal(CborError.StringLengthLimitExceeded, Error(() => CborInput.Decode(huge, r => r.ReadByteString(), unlimited)));
            Assert.Equal(CborError.Truncated, Error(() => CborInput.Decode(hugeButUnderLimit, r => r.ReadByteString(), unlimited)));
            Assert.Equal(CborError.Truncated, Error(() => CborInput.Decode(manyElements, r => r.ReadStartArray(), manyAllowed))); // 65536 elements cannot fit in 0 bytes
        }, enough: 16 * 1024 - 1);
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes (least of up to 3 windows)");
    }

    [Fact]
    public void Limits_are_enforced()
    {
        var shallow = new CborLimits { MaxDepth = 2 };
        Assert.Equal(CborError.DepthLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("818181f6"), shallow)));
        CborInput.Validate(Convert.FromHexString("8181f6"), shallow);
        Assert.Equal(CborError.DepthLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("c1c1c101"), shallow)));
        Assert.Equal(CborError.StringLengthLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("6461626364"), new CborLimits { MaxStringLength = 3 })));
        Assert.Equal(CborError.StringLengthLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("7f616161626163ff"), new CborLimits { MaxStringLength = 2 })));
        Assert.Equal(CborError.ItemCountLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("83010203"), new CborLimits { MaxCollectionLength = 2 })));
        Assert.Equal(CborError.ItemCountLimitExceeded, Error(() => CborInput.Validate(Convert.FromHexString("83010203"), new CborLimits { MaxItemCount = 3 })));
        CborInput.Validate(Convert.FromHexString("83010203"), new CborLimits { MaxItemCount = 4 });

        // The library itself has no depth limit: 10 000 nested arrays pass through it only if the seam lets them.
        byte[] deep = [.. Enumerable.Repeat((byte)0x81, 10_000), 0xf6];
        Assert.Equal(CborError.DepthLimitExceeded, Error(() => CborInput.CreateReader(deep)));
    }

    [Fact]
    public void Shortest_encoding_can_be_required()
    {
        var strict = new CborLimits { RequireShortestEncoding = true };
        Assert.Equal(CborError.NonCanonical, Error(() => CborInput.Decode(Convert.FromHexString("1817"), r => r.ReadUInt64(), strict)));
        Assert.Equal(CborError.NonCanonical, Error(() => CborInput.Decode(Convert.FromHexString("190017"), r => r.ReadUInt64(), strict)));
        Assert.Equal(CborError.NonCanonical, Error(() => CborInput.Decode(Convert.FromHexString("9fff"), r => r.ReadStartArray(), strict)));
        Assert.Equal(23UL, CborInput.Decode(Convert.FromHexString("1817"), r => r.ReadUInt64())); // lax by default
        Assert.Equal(24UL, CborInput.Decode(Convert.FromHexString("1818"), r => r.ReadUInt64(), strict));
    }

    [Fact]
    public void Integers_map_to_dotnet_types_with_overflow_checks()
    {
        static T Read<T>(string hex, Func<CborReader, T> read) => CborInput.Decode(Convert.FromHexString(hex), read);
        Assert.Equal(long.MinValue, Read("3b7fffffffffffffff", r => r.ReadInt64()));
        Assert.Equal(CborError.IntegerOverflow, Error(() => Read("3b8000000000000000", r => r.ReadInt64())));
        Assert.Equal(CborError.IntegerOverflow, Error(() => Read("1b8000000000000000", r => r.ReadInt64())));
        Assert.Equal(int.MinValue, Read("3a7fffffff", r => r.ReadInt32()));
        Assert.Equal(CborError.IntegerOverflow, Error(() => Read("1a80000000", r => r.ReadInt32())));
        Assert.Equal(CborError.IntegerOverflow, Error(() => Read("1b0000000100000000", r => r.ReadUInt32())));
        Assert.Equal(ulong.MaxValue, Read("3bffffffffffffffff", r => r.ReadCborNegativeIntegerRepresentation()));
        // System.Formats.Cbor reads a negative integer as an unsigned one that overflows (our own reader called it a type mismatch).
        Assert.Equal(CborError.IntegerOverflow, Error(() => Read("20", r => r.ReadUInt64())));
        Assert.Equal(CborError.UnexpectedType, Error(() => Read("6161", r => r.ReadUInt64())));
    }

    [Fact]
    public void Floats_of_every_width_read_as_double_and_half_precision_is_exact()
    {
        static T Read<T>(string hex, Func<CborReader, T> read) => CborInput.Decode(Convert.FromHexString(hex), read);
        Assert.Equal(5.960464477539063e-8, Read("f90001", r => r.ReadDouble()));
        Assert.Equal((Half)65504, Read("f97bff", r => r.ReadHalf()));
        Assert.Equal(100000f, Read("fa47c35000", r => r.ReadSingle()));
        Assert.Equal(1.5f, Read("f93e00", r => r.ReadSingle()));
        Assert.Equal(CborError.UnexpectedType, Error(() => Read("fb3ff199999999999a", r => r.ReadSingle())));
        Assert.True(double.IsNaN(Read("f97e00", r => r.ReadDouble())));
    }

    [Fact]
    public void Peek_reports_every_state()
    {
        CborReader reader = CborInput.CreateReader(Convert.FromHexString("9f00200140600180a0c0f4f6f7f0f9000ffa00000000fb0000000000000000ff"));
        Assert.Equal(CborReaderState.StartArray, reader.PeekState());
        reader.ReadStartArray();
        var seen = new List<CborReaderState>();
        while (reader.PeekState() != CborReaderState.EndArray)
        {
            CborReaderState state = reader.PeekState();
            seen.Add(state);
            if (state == CborReaderState.Tag)
            {
                reader.ReadTag();
            }
            else
            {
                reader.SkipValue();
            }
        }

        reader.ReadEndArray();
        Assert.Equal(CborReaderState.Finished, reader.PeekState());
        Assert.Equal(
            new[]
            {
                CborReaderState.UnsignedInteger, CborReaderState.NegativeInteger, CborReaderState.UnsignedInteger,
                CborReaderState.ByteString, CborReaderState.TextString, CborReaderState.UnsignedInteger,
                CborReaderState.StartArray, CborReaderState.StartMap, CborReaderState.Tag, CborReaderState.Boolean,
                CborReaderState.Null, CborReaderState.SimpleValue /* undefined */, CborReaderState.SimpleValue,
                CborReaderState.HalfPrecisionFloat, CborReaderState.SinglePrecisionFloat,
                CborReaderState.DoublePrecisionFloat,
            },
            seen);
    }

    [Fact]
    public void Indefinite_map_reads_pair_by_pair()
    {
        CborReader reader = CborInput.CreateReader(Convert.FromHexString("bf6346756ef563416d7421ff"));
        Assert.Null(reader.ReadStartMap());
        Assert.Equal("Fun", reader.ReadTextString());
        Assert.True(reader.ReadBoolean());
        Assert.Equal("Amt", reader.ReadTextString());
        Assert.Equal(-2, reader.ReadInt32());
        Assert.Equal(CborReaderState.EndMap, reader.PeekState());
        Assert.Equal(CborError.UnexpectedType, Error(() => CborInput.Read(reader, r => { r.ReadEndArray(); return 0; })));
        reader.ReadEndMap();
        Assert.Equal(CborReaderState.Finished, reader.PeekState());
    }

    [Fact]
    public void Every_library_exception_type_maps_to_CborException()
    {
        Assert.Equal(CborError.Malformed, CborInput.ToCborException(new CborContentException("x")).Error);
        Assert.Equal(CborError.InvalidUtf8, CborInput.ToCborException(new CborContentException("x", new System.Text.DecoderFallbackException())).Error);
        Assert.Equal(CborError.UnexpectedType, CborInput.ToCborException(new InvalidOperationException()).Error);
        Assert.Equal(CborError.IntegerOverflow, CborInput.ToCborException(new OverflowException()).Error);
        Assert.Equal(CborError.Malformed, CborInput.ToCborException(new FormatException()).Error);
        var inner = new CborException(CborError.Truncated, "t");
        Assert.Same(inner, CborInput.ToCborException(inner));
        Assert.IsType<CborContentException>(CborInput.ToCborException(new CborContentException("x")).InnerException);

        // A decoder that misreads validated input still only raises CborException.
        Assert.Equal(CborError.UnexpectedType, Error(() => CborInput.Decode(Convert.FromHexString("6161"), r => r.ReadUInt64())));
        Assert.Equal(CborError.SchemaViolation, Error(() => CborInput.Decode(Convert.FromHexString("820102"), r => r.ReadStartArray())));
    }
}
