using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

public sealed class CborReaderTests
{
    private static CborReader Reader(string hex, CborReaderOptions? options = null) => new(Convert.FromHexString(hex), options);

    private static void AssertUnchanged(CborReader reader, int consumed, CborReaderState state)
    {
        // "Ensure reader state is preserved": a failed read consumes nothing.
        Assert.Equal(consumed, reader.BytesConsumed);
        Assert.Equal(state, reader.PeekState());
    }

    [Fact]
    public void Failed_reads_leave_position_and_state_unchanged()
    {
        var reader = Reader("83" + "01" + "6161" + "1a0001"); // [1, "a", truncated uint32]
        Assert.Equal(3, reader.ReadStartArray());
        Assert.Equal(1UL, reader.ReadUInt64());

        var e = Assert.Throws<CborException>(() => reader.ReadUInt64()); // wrong type: text
        Assert.Equal(CborError.UnexpectedType, e.Error);
        AssertUnchanged(reader, 2, CborReaderState.TextString);

        Assert.Throws<CborException>(() => reader.ReadStartMap());
        Assert.Throws<CborException>(() => reader.ReadEndArray());
        AssertUnchanged(reader, 2, CborReaderState.TextString);
        Assert.Equal("a", reader.ReadTextString());

        e = Assert.Throws<CborException>(() => reader.ReadUInt64());
        Assert.Equal(CborError.Truncated, e.Error);
        AssertUnchanged(reader, 4, CborReaderState.UnsignedInteger);

        e = Assert.Throws<CborException>(() => reader.SkipValue());
        Assert.Equal(CborError.Truncated, e.Error);
        AssertUnchanged(reader, 4, CborReaderState.UnsignedInteger);
    }

    [Fact]
    public void SkipValue_rolls_back_a_partially_skipped_container()
    {
        var reader = Reader("82" + "a201020304" + "9f01025f4101"); // [{1:2,3:4}, [_ 1, 2, (_ h'01' <eof>
        Assert.Equal(2, reader.ReadStartArray());
        reader.SkipValue();
        int before = reader.BytesConsumed;
        var e = Assert.Throws<CborException>(() => reader.SkipValue());
        Assert.Equal(CborError.Truncated, e.Error);
        AssertUnchanged(reader, before, CborReaderState.StartArray);
        Assert.Equal(1, reader.CurrentDepth);

        Assert.Throws<CborException>(() => reader.ReadEncodedValue());
        AssertUnchanged(reader, before, CborReaderState.StartArray);
    }

    [Fact]
    public void ReadEncodedValue_returns_a_slice_of_the_input()
    {
        byte[] data = Convert.FromHexString("82a1016161f6");
        var reader = new CborReader(data);
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
        var reader = new CborReader(data);
        reader.ReadStartArray();
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.ReadByteString(), out ArraySegment<byte> bytes));
        Assert.Same(data, bytes.Array);
        Assert.Equal(2, bytes.Offset);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(reader.ReadTextStringUtf8(), out ArraySegment<byte> text));
        Assert.Same(data, text.Array);
        Assert.Equal(7, text.Offset);
    }

    [Theory]
    [InlineData("1c", CborError.Malformed)]          // reserved additional information 28
    [InlineData("5d", CborError.Malformed)]          // 29 on a byte string
    [InlineData("3f", CborError.Malformed)]          // indefinite negative integer
    [InlineData("df", CborError.Malformed)]          // indefinite tag
    [InlineData("ff", CborError.Malformed)]          // break at top level
    [InlineData("f818", CborError.Malformed)]        // two-byte simple value < 32
    [InlineData("18", CborError.Truncated)]
    [InlineData("1b00000000", CborError.Truncated)]
    [InlineData("62c3", CborError.Truncated)]
    [InlineData("62c328", CborError.InvalidUtf8)]
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
    public void Malformed_input_raises_the_right_error(string hex, CborError expected)
    {
        byte[] data = Convert.FromHexString(hex);
        var reader = new CborReader(data);
        CborError? actual = null;
        try
        {
            reader.SkipValue();
            if (reader.BytesRemaining > 0)
            {
                actual = CborError.TrailingData;
            }
        }
        catch (CborException e)
        {
            actual = e.Error;
            Assert.Equal(0, reader.BytesConsumed);
        }

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Announced_lengths_are_checked_before_allocation()
    {
        // A 4 GiB byte string in 5 bytes: rejected on its head, and the reader allocates nothing for it.
        var reader = Reader("5affffffff", new CborReaderOptions { MaxStringLength = int.MaxValue });
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<CborException>(() => reader.ReadByteString());
        Assert.Equal(CborError.StringLengthLimitExceeded, e.Error);
        reader = Reader("5a7ffffff0", new CborReaderOptions { MaxStringLength = int.MaxValue });
        e = Assert.Throws<CborException>(() => reader.ReadByteString());
        Assert.Equal(CborError.Truncated, e.Error);
        reader = Reader("9a00010000", new CborReaderOptions { MaxCollectionLength = 1 << 20 });
        e = Assert.Throws<CborException>(() => reader.ReadStartArray());
        Assert.Equal(CborError.Truncated, e.Error); // 65536 elements cannot fit in 0 bytes
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Limits_are_enforced()
    {
        var shallow = new CborReaderOptions { MaxDepth = 2 };
        var reader = Reader("818181f6", shallow);
        reader.ReadStartArray();
        reader.ReadStartArray();
        var e = Assert.Throws<CborException>(() => reader.ReadStartArray());
        Assert.Equal(CborError.DepthLimitExceeded, e.Error);

        e = Assert.Throws<CborException>(() => Reader("c1c1c101", shallow).SkipValue());
        Assert.Equal(CborError.DepthLimitExceeded, e.Error);

        e = Assert.Throws<CborException>(() => Reader("6461626364", new CborReaderOptions { MaxStringLength = 3 }).ReadTextString());
        Assert.Equal(CborError.StringLengthLimitExceeded, e.Error);

        e = Assert.Throws<CborException>(() => Reader("7f616161626163ff", new CborReaderOptions { MaxStringLength = 2 }).ReadTextString());
        Assert.Equal(CborError.StringLengthLimitExceeded, e.Error);

        e = Assert.Throws<CborException>(() => Reader("83010203", new CborReaderOptions { MaxCollectionLength = 2 }).ReadStartArray());
        Assert.Equal(CborError.ItemCountLimitExceeded, e.Error);

        e = Assert.Throws<CborException>(() => Reader("83010203", new CborReaderOptions { MaxItemCount = 3 }).SkipValue());
        Assert.Equal(CborError.ItemCountLimitExceeded, e.Error);
    }

    [Fact]
    public void Shortest_encoding_can_be_required()
    {
        var strict = new CborReaderOptions { RequireShortestEncoding = true };
        Assert.Equal(CborError.NonCanonical, Assert.Throws<CborException>(() => Reader("1817", strict).ReadUInt64()).Error);
        Assert.Equal(CborError.NonCanonical, Assert.Throws<CborException>(() => Reader("190017", strict).ReadUInt64()).Error);
        Assert.Equal(CborError.NonCanonical, Assert.Throws<CborException>(() => Reader("9fff", strict).ReadStartArray()).Error);
        Assert.Equal(23UL, Reader("1817").ReadUInt64()); // lax by default
        Assert.Equal(24UL, Reader("1818", strict).ReadUInt64());
    }

    [Fact]
    public void Integers_map_to_dotnet_types_with_overflow_checks()
    {
        Assert.Equal(long.MinValue, Reader("3b7fffffffffffffff").ReadInt64());
        Assert.Equal(CborError.IntegerOverflow, Assert.Throws<CborException>(() => Reader("3b8000000000000000").ReadInt64()).Error);
        Assert.Equal(CborError.IntegerOverflow, Assert.Throws<CborException>(() => Reader("1b8000000000000000").ReadInt64()).Error);
        Assert.Equal(int.MinValue, Reader("3a7fffffff").ReadInt32());
        Assert.Equal(CborError.IntegerOverflow, Assert.Throws<CborException>(() => Reader("1a80000000").ReadInt32()).Error);
        Assert.Equal(CborError.IntegerOverflow, Assert.Throws<CborException>(() => Reader("1b0000000100000000").ReadUInt32()).Error);
        Assert.Equal(ulong.MaxValue, Reader("3bffffffffffffffff").ReadCborNegativeIntegerRepresentation());
        Assert.Equal(CborError.UnexpectedType, Assert.Throws<CborException>(() => Reader("20").ReadUInt64()).Error);
    }

    [Fact]
    public void Floats_of_every_width_read_as_double_and_half_precision_is_exact()
    {
        Assert.Equal(5.960464477539063e-8, Reader("f90001").ReadDouble());
        Assert.Equal((Half)65504, Reader("f97bff").ReadHalf());
        Assert.Equal(100000f, Reader("fa47c35000").ReadSingle());
        Assert.Equal(1.5f, Reader("f93e00").ReadSingle());
        Assert.Equal(CborError.UnexpectedType, Assert.Throws<CborException>(() => Reader("fb3ff199999999999a").ReadSingle()).Error);
        Assert.True(double.IsNaN(Reader("f97e00").ReadDouble()));
    }

    [Fact]
    public void Peek_reports_every_state()
    {
        var reader = Reader("9f00200140600180a0c0f4f6f7f0f9000ffa00000000fb0000000000000000ff");
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
                CborReaderState.Null, CborReaderState.Undefined, CborReaderState.SimpleValue,
                CborReaderState.HalfPrecisionFloat, CborReaderState.SinglePrecisionFloat,
                CborReaderState.DoublePrecisionFloat,
            },
            seen);
    }

    [Fact]
    public void Indefinite_map_reads_pair_by_pair()
    {
        var reader = Reader("bf6346756ef563416d7421ff");
        Assert.Null(reader.ReadStartMap());
        Assert.Equal("Fun", reader.ReadTextString());
        Assert.True(reader.ReadBoolean());
        Assert.Equal("Amt", reader.ReadTextString());
        Assert.Equal(-2, reader.ReadInt32());
        Assert.Equal(CborReaderState.EndMap, reader.PeekState());
        Assert.Throws<CborException>(() => reader.ReadEndArray());
        reader.ReadEndMap();
        Assert.Equal(CborReaderState.Finished, reader.PeekState());
    }
}
