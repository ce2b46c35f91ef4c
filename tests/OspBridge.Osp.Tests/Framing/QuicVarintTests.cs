using OspBridge.Net.Wire;

namespace OspBridge.Osp.Tests.Framing;

/// <summary>RFC 9000 §16 / Appendix A.1 vectors for the varint used as OSP type key.</summary>
public sealed class QuicVarintTests
{
    [Theory]
    [InlineData("c2197c5eff14e88c", 151288809941952652UL)]
    [InlineData("9d7f3e7d", 494878333UL)]
    [InlineData("7bbd", 15293UL)]
    [InlineData("25", 37UL)]
    public void Rfc9000_sample_decodings(string hex, ulong value)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Assert.True(QuicVarint.TryRead(bytes, out ulong read, out int length));
        Assert.Equal(value, read);
        Assert.Equal(bytes.Length, length);
        byte[] written = new byte[8];
        Assert.Equal(bytes.Length, QuicVarint.Write(written, value));
        Assert.Equal(hex, Convert.ToHexStringLower(written.AsSpan(0, bytes.Length)));
    }

    [Fact]
    public void Non_shortest_forms_decode_and_truncation_consumes_nothing()
    {
        Assert.True(QuicVarint.TryRead(Convert.FromHexString("4025"), out ulong v, out int n)); // RFC: 37 in two bytes
        Assert.Equal((37UL, 2), (v, n));
        Assert.False(QuicVarint.TryRead(Convert.FromHexString("9d7f3e"), out v, out n));
        Assert.Equal((0UL, 0), (v, n));
        Assert.False(QuicVarint.TryRead([], out _, out _));
    }

    [Theory]
    [InlineData(0UL, 1)]
    [InlineData(63UL, 1)]
    [InlineData(64UL, 2)]
    [InlineData(16383UL, 2)]
    [InlineData(16384UL, 4)]
    [InlineData(1073741823UL, 4)]
    [InlineData(1073741824UL, 8)]
    [InlineData(QuicVarint.MaxValue, 8)]
    public void Boundaries_round_trip(ulong value, int length)
    {
        Assert.Equal(length, QuicVarint.GetEncodedLength(value));
        byte[] buffer = new byte[8];
        Assert.False(QuicVarint.TryWrite(buffer.AsSpan(0, length - 1), value, out int none));
        Assert.Equal(0, none);
        Assert.True(QuicVarint.TryWrite(buffer, value, out int written));
        Assert.Equal(length, written);
        Assert.Equal(length, QuicVarint.GetEncodedLength(buffer[0]));
        Assert.True(QuicVarint.TryRead(buffer.AsSpan(0, written), out ulong read, out _));
        Assert.Equal(value, read);
    }

    [Fact]
    public void Values_above_2_pow_62_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => QuicVarint.GetEncodedLength(QuicVarint.MaxValue + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => QuicVarint.TryWrite(new byte[8], ulong.MaxValue, out _));
    }
}
