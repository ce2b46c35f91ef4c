namespace OspBridge.Quic.Http3.Qpack;

/// <summary>
/// Huffman decoding of string literals (RFC 7541 §5.2, Appendix B; used by QPACK, RFC 9204 §4.1.2).
/// The Appendix B code is canonical (codes assigned in order of length, then symbol), so the table is kept
/// as the 257 code lengths and the codes are rebuilt from them; tests compare with Appendix B values.
/// </summary>
internal static class QpackHuffman
{
    /// <summary>Code length in bits of symbols 0..255 and EOS (256), from RFC 7541 Appendix B.</summary>
    internal static readonly byte[] CodeLengths = [13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30];

    /// <summary>Canonical codes (right-aligned) per symbol.</summary>
    internal static readonly uint[] Codes;

    // Per code length L: the first code of that length and where its symbols start in SortedSymbols.
    private static readonly uint[] FirstCode = new uint[31];
    private static readonly int[] Count = new int[31];
    private static readonly int[] Offset = new int[31];
    private static readonly short[] SortedSymbols = new short[257];

    static QpackHuffman()
    {
        Codes = new uint[257];
        var order = Enumerable.Range(0, 257).OrderBy(s => CodeLengths[s]).ThenBy(s => s).ToArray();
        uint code = 0;
        int prevLen = CodeLengths[order[0]];
        for (int i = 0; i < order.Length; i++)
        {
            int s = order[i], len = CodeLengths[s];
            code <<= len - prevLen;
            prevLen = len;
            if (Count[len] == 0) { FirstCode[len] = code; Offset[len] = i; }
            Count[len]++;
            Codes[s] = code;
            SortedSymbols[i] = (short)s;
            code++;
        }
    }

    /// <summary>Decodes; QPACK_DECOMPRESSION_FAILED on EOS, bad padding (&gt; 7 bits or not all ones) or output over <paramref name="maxLength"/>.</summary>
    public static byte[] Decode(ReadOnlySpan<byte> input, int maxLength)
    {
        var output = new List<byte>(input.Length * 8 / 5 + 1);
        uint code = 0;
        int len = 0;
        bool allOnes = true;
        foreach (byte b in input)
        {
            for (int bit = 7; bit >= 0; bit--)
            {
                uint v = (uint)(b >> bit) & 1;
                code = (code << 1) | v;
                len++;
                allOnes &= v == 1;
                if (len > 30) throw Http3Errors.Qpack("invalid Huffman code");
                if (Count[len] > 0 && code - FirstCode[len] < (uint)Count[len] && code >= FirstCode[len])
                {
                    int sym = SortedSymbols[Offset[len] + (int)(code - FirstCode[len])];
                    if (sym == 256) throw Http3Errors.Qpack("EOS in Huffman string");
                    if (output.Count >= maxLength) throw Http3Errors.Error(Http3ErrorCode.ExcessiveLoad, "Huffman string too long");
                    output.Add((byte)sym);
                    code = 0;
                    len = 0;
                    allOnes = true;
                }
            }
        }
        if (len > 7 || !allOnes) throw Http3Errors.Qpack("invalid Huffman padding");
        return [.. output];
    }

    /// <summary>Encodes (used only by tests and tools: our encoder sends raw literals).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>();
        ulong acc = 0;
        int bits = 0;
        foreach (byte b in input)
        {
            acc = (acc << CodeLengths[b]) | Codes[b];
            bits += CodeLengths[b];
            while (bits >= 8)
            {
                bits -= 8;
                output.Add((byte)(acc >> bits));
            }
        }
        if (bits > 0) output.Add((byte)((acc << (8 - bits)) | (0xFFu >> bits)));
        return [.. output];
    }
}
