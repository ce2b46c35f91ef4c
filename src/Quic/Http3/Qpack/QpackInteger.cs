namespace OspBridge.Quic.Http3.Qpack;

/// <summary>N-bit prefix integers (RFC 7541 §5.1, used by QPACK RFC 9204 §4.1.1).</summary>
internal static class QpackInteger
{
    /// <summary>Reads an integer whose prefix occupies the low <paramref name="prefixBits"/> bits of data[pos]; QPACK error on overflow/truncation.</summary>
    public static ulong Read(ReadOnlySpan<byte> data, ref int pos, int prefixBits)
    {
        if (pos >= data.Length) throw Http3Errors.Qpack("truncated integer");
        ulong max = (1UL << prefixBits) - 1;
        ulong value = data[pos++] & max;
        if (value < max) return value;
        int shift = 0;
        while (true)
        {
            if (pos >= data.Length) throw Http3Errors.Qpack("truncated integer");
            byte b = data[pos++];
            if (shift > 56) throw Http3Errors.Qpack("integer too large");
            value += (ulong)(b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0) break;
        }
        if (value > (1UL << 62)) throw Http3Errors.Qpack("integer too large");
        return value;
    }

    /// <summary>Writes an integer with <paramref name="prefixBits"/> prefix bits; <paramref name="firstByteFlags"/> are OR-ed into the first byte.</summary>
    public static void Write(List<byte> output, ulong value, int prefixBits, byte firstByteFlags)
    {
        ulong max = (1UL << prefixBits) - 1;
        if (value < max)
        {
            output.Add((byte)(firstByteFlags | (byte)value));
            return;
        }
        output.Add((byte)(firstByteFlags | (byte)max));
        value -= max;
        while (value >= 0x80)
        {
            output.Add((byte)(0x80 | (value & 0x7F)));
            value >>= 7;
        }
        output.Add((byte)value);
    }
}
