using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

public sealed class CborWriterTests
{
    [Fact]
    public void Deterministic_maps_sort_keys_bytewise_at_every_level()
    {
        // RFC 8949 §4.2.1: keys sort by their encoded bytes: 10 (0a) < 100 (1864) < -1 (20) < "z" (617a) < "aa" (626161) < [100] < [-1] < false.
        using var writer = new CborWriter(deterministic: true);
        writer.WriteStartMap(8);
        writer.WriteBoolean(false); writer.WriteUInt64(7);
        writer.WriteTextString("aa"); writer.WriteUInt64(4);
        writer.WriteStartArray(1); writer.WriteInt64(-1); writer.WriteEndArray(); writer.WriteUInt64(6);
        writer.WriteUInt64(100); writer.WriteUInt64(1);
        writer.WriteInt64(-1); writer.WriteUInt64(2);
        writer.WriteTextString("z");
        writer.WriteStartMap(2); writer.WriteUInt64(2); writer.WriteNull(); writer.WriteUInt64(1); writer.WriteNull(); writer.WriteEndMap();
        writer.WriteStartArray(1); writer.WriteUInt64(100); writer.WriteEndArray(); writer.WriteUInt64(5);
        writer.WriteUInt64(10); writer.WriteUInt64(0);
        writer.WriteEndMap();
        Assert.Equal(
            "{10: 0, 100: 1, -1: 2, \"z\": {1: null, 2: null}, \"aa\": 4, [100]: 5, [-1]: 6, false: 7}",
            CborDiagnostic.Format(writer.Encode()));
    }

    [Fact]
    public void Deterministic_maps_reject_duplicate_keys()
    {
        using var writer = new CborWriter(deterministic: true);
        writer.WriteStartMap(2);
        writer.WriteUInt64(1); writer.WriteUInt64(1);
        writer.WriteUInt64(1); writer.WriteUInt64(2);
        Assert.Equal(CborError.DuplicateMapKey, Assert.Throws<CborException>(() => writer.WriteEndMap()).Error);
    }

    [Fact]
    public void Non_deterministic_maps_keep_insertion_order()
    {
        using var writer = new CborWriter();
        writer.WriteStartMap(2);
        writer.WriteUInt64(2); writer.WriteUInt64(0);
        writer.WriteUInt64(1); writer.WriteUInt64(0);
        writer.WriteEndMap();
        Assert.Equal("a202000100", Convert.ToHexStringLower(writer.Encode()));
    }

    [Fact]
    public void Misuse_is_rejected()
    {
        using var writer = new CborWriter();
        writer.WriteStartArray(2);
        writer.WriteUInt64(1);
        Assert.Throws<InvalidOperationException>(() => writer.WriteEndArray());
        Assert.Throws<InvalidOperationException>(() => writer.WriteEndMap());
        Assert.Throws<InvalidOperationException>(() => writer.Encode());
        writer.WriteUInt64(2);
        Assert.Throws<InvalidOperationException>(() => writer.WriteUInt64(3));
        writer.WriteEndArray();
        Assert.Throws<InvalidOperationException>(() => writer.WriteUInt64(4));
        Assert.Equal("820102", Convert.ToHexStringLower(writer.Encode()));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteSimpleValue(24));
        Assert.Throws<ArgumentException>(() => new CborWriter().WriteTextString("\ud800"));
        Assert.Throws<ArgumentException>(() => new CborWriter().WriteUtf8String([0xc3]));
        Assert.Throws<CborException>(() => new CborWriter().WriteEncodedValue(new byte[] { 0x82, 0x01 }));
        Assert.Throws<CborException>(() => new CborWriter().WriteEncodedValue(new byte[] { 0x01, 0x01 }));

        writer.Reset();
        writer.WriteTag(1);
        Assert.False(writer.IsComplete);
        writer.WriteEncodedValue(new byte[] { 0x82, 0x01, 0x02 });
        Assert.Equal("c1820102", Convert.ToHexStringLower(writer.Encode()));
    }

    [Fact]
    public void Shortest_heads_and_floats()
    {
        static string Hex(Action<CborWriter> write)
        {
            using var w = new CborWriter();
            write(w);
            return Convert.ToHexStringLower(w.Encode());
        }

        Assert.Equal("17", Hex(w => w.WriteUInt64(23)));
        Assert.Equal("18ff", Hex(w => w.WriteUInt64(255)));
        Assert.Equal("190100", Hex(w => w.WriteUInt64(256)));
        Assert.Equal("1a00010000", Hex(w => w.WriteUInt64(65536)));
        Assert.Equal("1b0000000100000000", Hex(w => w.WriteUInt64(1UL << 32)));
        Assert.Equal("3b7fffffffffffffff", Hex(w => w.WriteInt64(long.MinValue)));
        Assert.Equal("fb3ff8000000000000", Hex(w => w.WriteFloat64(1.5)));
        Assert.Equal("f93e00", Hex(w => w.WriteDouble(1.5)));
        Assert.Equal("fa3dcccccd", Hex(w => w.WriteSingle(0.1f)));
        Assert.Equal("fa3dcccccd", Hex(w => w.WriteDouble(0.1f)));
        Assert.Equal("fb3fb999999999999a", Hex(w => w.WriteDouble(0.1)));
        Assert.Equal("f97e00", Hex(w => w.WriteDouble(BitConverter.UInt64BitsToDouble(0x7ff0000000000001))));
        Assert.Equal("f90001", Hex(w => w.WriteHalf(Half.Epsilon)));
    }

    [Fact]
    public void Output_goes_to_spans_and_buffer_writers()
    {
        using var writer = new CborWriter(initialCapacity: 1);
        byte[] big = new byte[1000];
        writer.WriteByteString(big);
        Assert.False(writer.TryEncode(new byte[10], out int written));
        Assert.Equal(0, written);
        byte[] destination = new byte[1003];
        Assert.True(writer.TryEncode(destination, out written));
        Assert.Equal(1003, written);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        writer.CopyTo(buffer);
        Assert.Equal(destination, buffer.WrittenSpan.ToArray());
        Assert.Equal("5903e8", Convert.ToHexStringLower(destination.AsSpan(0, 3)));
    }
}
