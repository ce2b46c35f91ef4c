using System.Text;
using OspBridge.Quic;
using OspBridge.Quic.Http3;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Tests.Http3;

public class QpackTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    [Fact]
    public void Rfc9204_B1_literal_with_static_name_reference()
    {
        // RFC 9204 Appendix B.1: 0000 | 510b 2f69 6e64 6578 2e68 746d 6c  → :path=/index.html
        byte[] section = H("0000 510b 2f69 6e64 6578 2e68 746d 6c");
        var fields = QpackDecoder.Decode(section);
        Assert.Equal([new HeaderField(":path", "/index.html")], fields);
        Assert.Equal(section, QpackEncoder.Encode(fields));
    }

    [Theory]
    [InlineData("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff")] // RFC 7541 C.4.1
    [InlineData("no-cache", "a8eb 1064 9cbf")] // C.4.2
    [InlineData("custom-key", "25a8 49e9 5ba9 7d7f")] // C.4.3
    [InlineData("custom-value", "25a8 49e9 5bb8 e8b4 bf")] // C.4.3
    [InlineData("302", "6402")] // C.6.1
    [InlineData("private", "aec3 771a 4b")] // C.6.1
    [InlineData("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff")] // C.6.1
    [InlineData("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3")] // C.6.1
    public void Huffman_vectors_from_rfc7541_appendix_c(string text, string hex)
    {
        Assert.Equal(text, Encoding.ASCII.GetString(QpackHuffman.Decode(H(hex), 1000)));
        Assert.Equal(H(hex), QpackHuffman.Encode(Encoding.ASCII.GetBytes(text)));
    }

    [Fact]
    public void Huffman_table_matches_rfc7541_appendix_b_samples_and_is_complete()
    {
        (int sym, uint code, int len)[] samples =
        [
            (0, 0x1ff8, 13), (1, 0x7fffd8, 23), (10, 0x3ffffffc, 30), (32, 0x14, 6), (48, 0x0, 5), (92, 0x7fff0, 19),
            (124, 0x7fc, 11), (128, 0xfffe6, 20), (199, 0x1ffffec, 25), (203, 0x7ffffde, 27), (220, 0xffffffd, 28),
            (249, 0xffffffe, 28), (255, 0x3ffffee, 26), (256, 0x3fffffff, 30),
        ];
        foreach (var (sym, code, len) in samples)
        {
            Assert.Equal(len, QpackHuffman.CodeLengths[sym]);
            Assert.Equal(code, QpackHuffman.Codes[sym]);
        }
        double kraft = QpackHuffman.CodeLengths.Sum(l => Math.Pow(2, -l));
        Assert.Equal(1.0, kraft, 12);
        // Every byte value round-trips.
        byte[] all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        Assert.Equal(all, QpackHuffman.Decode(QpackHuffman.Encode(all), 1000));
    }

    [Fact]
    public void Huffman_rejects_bad_padding_and_eos()
    {
        // "0" is 00000 (5 bits): padding with zeros is invalid.
        var e = Assert.Throws<QuicException>(() => QpackHuffman.Decode([0b0000_0000], 10));
        Assert.Equal((long)Http3ErrorCode.QpackDecompressionFailed, e.ApplicationErrorCode);
        // A full byte of padding (8 ones) is invalid.
        Assert.Throws<QuicException>(() => QpackHuffman.Decode([0b0000_0111, 0xFF], 10));
        // EOS (30 ones) encoded explicitly.
        Assert.Throws<QuicException>(() => QpackHuffman.Decode([0xFF, 0xFF, 0xFF, 0xFF], 10));
        // valid: '0' + 3 padding ones
        Assert.Equal("0"u8.ToArray(), QpackHuffman.Decode([0b0000_0111], 10));
    }

    [Fact]
    public void Encoder_uses_static_exact_matches_name_references_and_literals()
    {
        var fields = new List<HeaderField>
        {
            new(":method", "GET"), new(":scheme", "https"), new(":authority", "localhost:4433"), new(":path", "/1000000"),
            new("user-agent", "ospbridge"), new("x-custom", "value with spaces"), new(":status", "200"),
        };
        byte[] enc = QpackEncoder.Encode(fields);
        Assert.Equal(0xC0 | 17, enc[2]); // :method GET = static 17, indexed
        Assert.Equal(0xC0 | 23, enc[3]); // :scheme https = static 23
        Assert.Equal(fields, QpackDecoder.Decode(enc));
    }

    [Fact]
    public void Decoder_handles_huffman_literals_and_long_prefix_integers()
    {
        // Literal with name ref (static 0 :authority), Huffman value "www.example.com".
        var o = new List<byte> { 0, 0, 0x50 };
        byte[] huff = H("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
        o.Add((byte)(0x80 | huff.Length));
        o.AddRange(huff);
        // Literal name (Huffman "custom-key") with literal value of 200 bytes (multi-byte length).
        byte[] key = H("25a8 49e9 5ba9 7d7f");
        o.Add((byte)(0x20 | 0x08 | key.Length)); // H=1, len 8 < 7? no: 3-bit prefix max 7 → needs continuation
        o.RemoveAt(o.Count - 1);
        o.Add(0x20 | 0x08 | 0x07);
        o.Add((byte)(key.Length - 7));
        o.AddRange(key);
        o.Add(0x7F);
        o.Add(200 - 127);
        o.AddRange(Enumerable.Repeat((byte)'x', 200));
        var fields = QpackDecoder.Decode([.. o]);
        Assert.Equal(new HeaderField(":authority", "www.example.com"), fields[0]);
        Assert.Equal(new HeaderField("custom-key", new string('x', 200)), fields[1]);
    }

    [Theory]
    [InlineData("0100")] // Required Insert Count 1: dynamic table
    [InlineData("0000 80")] // indexed dynamic
    [InlineData("0000 ff ff ff ff ff ff ff ff ff ff 01")] // integer overflow
    [InlineData("0000 c0 ff 28")] // static index out of range (63 + 40 = 103)
    [InlineData("0000 10")] // post-base indexed
    [InlineData("0000 51 0b 2f")] // truncated value
    [InlineData("0000 40 00")] // literal with dynamic name ref
    [InlineData("")] // empty
    public void Decoder_rejects_invalid_sections(string hex)
    {
        var e = Assert.Throws<QuicException>(() => QpackDecoder.Decode(H(hex)));
        Assert.NotNull(e.ApplicationErrorCode);
    }

    [Fact]
    public void Decoder_enforces_the_field_section_size_limit()
    {
        var fields = Enumerable.Range(0, 100).Select(i => new HeaderField("x-h" + i, new string('v', 100))).ToList();
        byte[] enc = QpackEncoder.Encode(fields);
        var e = Assert.Throws<QuicException>(() => QpackDecoder.Decode(enc, 4096));
        Assert.Equal((long)Http3ErrorCode.ExcessiveLoad, e.ApplicationErrorCode);
        Assert.Equal(100, QpackDecoder.Decode(enc, 64 * 1024).Count);
    }

    [Fact]
    public void Static_table_has_99_entries_with_spot_checks()
    {
        Assert.Equal(99, QpackStaticTable.Entries.Length);
        Assert.Equal(new HeaderField(":authority", ""), QpackStaticTable.Entries[0]);
        Assert.Equal(new HeaderField(":status", "200"), QpackStaticTable.Entries[25]);
        Assert.Equal(new HeaderField("content-type", "text/plain;charset=utf-8"), QpackStaticTable.Entries[54]);
        Assert.Equal(new HeaderField(":status", "100"), QpackStaticTable.Entries[63]);
        Assert.Equal(new HeaderField("x-frame-options", "sameorigin"), QpackStaticTable.Entries[98]);
    }
}
