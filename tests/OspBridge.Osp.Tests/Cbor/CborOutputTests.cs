using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>Writing through System.Formats.Cbor and the seam (<see cref="CborOutput"/>) that adds what CDDL and RFC 8949 ask for.</summary>
public sealed class CborOutputTests
{
    [Fact]
    public void Deterministic_maps_sort_keys_bytewise_at_every_level()
    {
        // RFC 8949 §4.2.1: keys sort by their encoded bytes: 10 (0a) < 100 (1864) < -1 (20) < "z" (617a) < "aa" (626161) < [100] < [-1] < false.
        // (The library's Canonical mode sorts length-first, RFC 7049 style, and Ctap2Canonical puts [-1] before [100].)
        var writer = new CborWriter(CborConformanceMode.Lax);
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
        byte[] deterministic = CborOutput.ToDeterministic(writer.Encode());
        Assert.Equal(
            "{10: 0, 100: 1, -1: 2, \"z\": {1: null, 2: null}, \"aa\": 4, [100]: 5, [-1]: 6, false: 7}",
            CborDiagnostic.Format(deterministic));
        Assert.Equal(deterministic, CborOutput.ToDeterministic(deterministic));
    }

    [Fact]
    public void Deterministic_maps_reject_duplicate_keys()
    {
        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteStartMap(2);
        writer.WriteUInt64(1); writer.WriteUInt64(1);
        writer.WriteUInt64(1); writer.WriteUInt64(2);
        writer.WriteEndMap();
        Assert.Equal(CborError.DuplicateMapKey, Assert.Throws<CborException>(() => CborOutput.ToDeterministic(writer.Encode())).Error);

        // The same key written in two different ways (non-shortest head) is still one key once re-encoded.
        Assert.Equal(CborError.DuplicateMapKey, Assert.Throws<CborException>(() => CborOutput.ToDeterministic(Convert.FromHexString("a20101180102"))).Error);

        // Strict writers (CborOutput.CreateWriter) refuse the duplicate as it is written.
        CborWriter strict = CborOutput.CreateWriter();
        strict.WriteStartMap(2);
        strict.WriteUInt64(1); strict.WriteUInt64(1);
        Assert.Throws<InvalidOperationException>(() => strict.WriteUInt64(1));
    }

    [Fact]
    public void Deterministic_encoding_uses_definite_lengths_shortest_heads_and_preferred_floats()
    {
        Assert.Equal("8301820203820405", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("83018202039f0405ff"))));
        Assert.Equal("450102030405", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("5f42010243030405ff"))));
        Assert.Equal("17", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("1b0000000000000017"))));
        Assert.Equal("f93e00", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("fb3ff8000000000000"))));
        Assert.Equal("f97e00", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("fb7ff8000000000001"))));
        Assert.Equal("c1f93e00", Convert.ToHexStringLower(CborOutput.ToDeterministic(Convert.FromHexString("c1fa3fc00000"))));
        Assert.Equal(CborError.Truncated, Assert.Throws<CborException>(() => CborOutput.ToDeterministic(Convert.FromHexString("8201"))).Error);
    }

    [Fact]
    public void Non_deterministic_maps_keep_insertion_order()
    {
        CborWriter writer = CborOutput.CreateWriter();
        writer.WriteStartMap(2);
        writer.WriteUInt64(2); writer.WriteUInt64(0);
        writer.WriteUInt64(1); writer.WriteUInt64(0);
        writer.WriteEndMap();
        Assert.Equal("a202000100", Convert.ToHexStringLower(writer.Encode()));
    }

    [Fact]
    public void Misuse_is_rejected()
    {
        CborWriter writer = CborOutput.CreateWriter();
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
        Assert.ThrowsAny<Exception>(() => CborOutput.CreateWriter().WriteSimpleValue((CborSimpleValue)24));
        Assert.Throws<ArgumentException>(() => CborOutput.CreateWriter().WriteTextString("\ud800"));
        Assert.Throws<ArgumentException>(() => CborOutput.WriteTextString(new CborWriter(CborConformanceMode.Lax), "a\udc00"));
        Assert.Throws<ArgumentException>(() => CborOutput.WriteTextString(new CborWriter(CborConformanceMode.Lax), "\ud800b"));
        CborOutput.WriteTextString(new CborWriter(CborConformanceMode.Lax), "\ud800\udd51"); // a proper pair
        Assert.Throws<ArgumentException>(() => CborOutput.CreateWriter().WriteEncodedValue(new byte[] { 0x82, 0x01 }));
        Assert.Throws<ArgumentException>(() => CborOutput.CreateWriter().WriteEncodedValue(new byte[] { 0x01, 0x01 }));

        writer.Reset();
        writer.WriteTag((CborTag)1);
        Assert.Throws<InvalidOperationException>(() => writer.Encode());
        writer.WriteEncodedValue(new byte[] { 0x82, 0x01, 0x02 });
        Assert.Equal("c1820102", Convert.ToHexStringLower(writer.Encode()));
    }

    [Fact]
    public void Shortest_heads_and_floats()
    {
        static string Hex(Action<CborWriter> write)
        {
            CborWriter w = CborOutput.CreateWriter();
            write(w);
            return Convert.ToHexStringLower(w.Encode());
        }

        Assert.Equal("17", Hex(w => w.WriteUInt64(23)));
        Assert.Equal("18ff", Hex(w => w.WriteUInt64(255)));
        Assert.Equal("190100", Hex(w => w.WriteUInt64(256)));
        Assert.Equal("1a00010000", Hex(w => w.WriteUInt64(65536)));
        Assert.Equal("1b0000000100000000", Hex(w => w.WriteUInt64(1UL << 32)));
        Assert.Equal("3b7fffffffffffffff", Hex(w => w.WriteInt64(long.MinValue)));
        Assert.Equal("fb3ff8000000000000", Hex(w => CborOutput.WriteFloat64(w, 1.5)));
        Assert.Equal("f93e00", Hex(w => CborOutput.WritePreferredDouble(w, 1.5)));
        Assert.Equal("fa3dcccccd", Hex(w => w.WriteSingle(0.1f)));
        Assert.Equal("fa3dcccccd", Hex(w => CborOutput.WritePreferredDouble(w, 0.1f)));
        Assert.Equal("fb3fb999999999999a", Hex(w => CborOutput.WritePreferredDouble(w, 0.1)));
        Assert.Equal("f97e00", Hex(w => CborOutput.WritePreferredDouble(w, BitConverter.UInt64BitsToDouble(0x7ff0000000000001))));
        Assert.Equal("f97e00", Hex(w => CborOutput.WritePreferredDouble(w, double.NaN)));
        Assert.Equal("f90001", Hex(w => w.WriteHalf(Half.Epsilon)));
        // The library's own WriteDouble in strict mode also writes the shortest exact width.
        Assert.Equal("f93e00", Hex(w => w.WriteDouble(1.5)));
    }

    [Fact]
    public void Output_goes_to_spans_and_buffer_writers()
    {
        var writer = new CborWriter(CborConformanceMode.Strict, initialCapacity: 1);
        byte[] big = new byte[1000];
        writer.WriteByteString(big);
        Assert.False(writer.TryEncode(new byte[10], out int written));
        Assert.Equal(0, written);
        byte[] destination = new byte[1003];
        Assert.True(writer.TryEncode(destination, out written));
        Assert.Equal(1003, written);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        CborOutput.CopyTo(writer, buffer);
        Assert.Equal(destination, buffer.WrittenSpan.ToArray());
        Assert.Equal("5903e8", Convert.ToHexStringLower(destination.AsSpan(0, 3)));
    }
}
