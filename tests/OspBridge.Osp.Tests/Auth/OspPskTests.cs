using System.Text;
using OspBridge.Osp.Auth;
using OspBridge.Testing.Virtual;

namespace OspBridge.Osp.Tests.Auth;

public sealed class OspPskTests
{
    [Fact]
    public void Spec_example_groups_in_fours_with_one_leading_zero()
    {
        // Open Screen Network Protocol, Appendix B: 61488548833 -> 0614-8854-8833.
        var psk = OspPsk.FromValue(61488548833);
        Assert.Equal("0614-8854-8833", psk.ToDisplayString());
        Assert.True(OspPsk.TryParse("0614-8854-8833", out var back));
        Assert.Equal(61488548833UL, (ulong)back.Value);
        Assert.Equal("61488548833", Encoding.ASCII.GetString(back.ToPasswordBytes()));
        Assert.Equal("e5100cbe1", psk.ToHexString());
    }

    [Theory]
    [InlineData(7UL, 1, "007")] // < 9 digits: groups of 3, left-padded
    [InlineData(1234UL, 1, "001-234")]
    [InlineData(123456UL, 1, "123-456")] // a full group: no extra zero group (spec quirk fixed)
    [InlineData(123456789UL, 1, "123-456-789")] // exactly 9 digits (undefined in the spec): groups of 3
    [InlineData(1234567890UL, 1, "0012-3456-7890")] // > 9 digits: groups of 4
    [InlineData(123456789012UL, 1, "1234-5678-9012")] // a multiple of 4: no extra zero group
    [InlineData(42UL, 9, "000-000-042")] // shown with its generation width
    [InlineData(42UL, 12, "0000-0000-0042")]
    [InlineData(0UL, 9, "000-000-000")]
    public void Display_grouping(ulong value, int digits, string expected)
    {
        var psk = OspPsk.FromValue(value, digits);
        Assert.Equal(expected, psk.ToDisplayString());
        Assert.True(OspPsk.TryParse(expected, out var parsed));
        Assert.Equal(psk, parsed);
        Assert.Equal(value.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.ASCII.GetString(parsed.ToPasswordBytes()));
    }

    [Theory]
    [InlineData("0614-8854-8833")]
    [InlineData("0614 8854 8833")]
    [InlineData("061488548833")]
    [InlineData("  61488548833 ")]
    [InlineData("6-1-4-8-8-5-4-8-8-3-3")]
    public void Parse_tolerates_dashes_spaces_and_leading_zeros(string text)
    {
        Assert.True(OspPsk.TryParse(text, out var psk));
        Assert.Equal(61488548833UL, (ulong)psk.Value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("---")]
    [InlineData("12a4")]
    [InlineData("１２３")] // full-width digits are not ASCII digits
    [InlineData("12345678901234567890123456")] // 26 digits
    [InlineData("99999999999999999999999999")]
    public void Parse_rejects_non_pins(string? text) => Assert.False(OspPsk.TryParse(text, out _));

    [Fact]
    public void Parse_rejects_more_than_80_bits()
    {
        Assert.True(OspPsk.TryParse(((UInt128.One << 80) - 1).ToString(), out _));
        Assert.False(OspPsk.TryParse((UInt128.One << 80).ToString(), out _));
    }

    [Fact]
    public void Hex_round_trip_for_the_QR_payload()
    {
        var psk = OspPsk.FromValue(0xe5100cbe1);
        Assert.True(OspPsk.TryParseHex("E5100CBE1", out var upper));
        Assert.True(OspPsk.TryParseHex("e5100cbe1", out var lower));
        Assert.Equal(psk, upper);
        Assert.Equal(psk, lower);
        Assert.Equal(psk.ToPasswordBytes(), upper.ToPasswordBytes()); // QR and digits give the same pw
        Assert.False(OspPsk.TryParseHex("0x12", out _));
        Assert.False(OspPsk.TryParseHex("", out _));
        Assert.False(OspPsk.TryParseHex("1" + new string('0', 20), out _)); // 84 bits
        Assert.Equal("0", OspPsk.FromValue(0).ToHexString());
    }

    [Theory]
    [InlineData(0, 9)]
    [InlineData(20, 9)]
    [InlineData(29, 9)]
    [InlineData(30, 12)]
    [InlineData(39, 12)]
    [InlineData(40, 16)]
    [InlineData(53, 16)]
    [InlineData(54, 20)]
    [InlineData(60, 20)]
    [InlineData(200, 20)] // clamped to 60
    public void Digits_for_entropy(int bits, int digits)
    {
        Assert.Equal(digits, OspPsk.DigitsFor(bits));
        Assert.True(digits * Math.Log2(10) >= Math.Clamp(bits, 20, 60));
    }

    [Fact]
    public void Clamp_follows_the_spec_range()
    {
        Assert.Equal(20, OspPsk.ClampEntropyBits(0));
        Assert.Equal(20, OspPsk.ClampEntropyBits(19));
        Assert.Equal(33, OspPsk.ClampEntropyBits(33));
        Assert.Equal(60, OspPsk.ClampEntropyBits(61));
        Assert.Equal(60, OspPsk.ClampEntropyBits(ulong.MaxValue));
    }

    [Theory]
    [InlineData(20)]
    [InlineData(40)]
    [InlineData(60)]
    public void Generate_is_uniform_over_the_digit_range_and_fresh(int bits)
    {
        var rng = new SeededRandomNumberGenerator(7);
        int digits = OspPsk.DigitsFor(bits);
        UInt128 bound = 1;
        for (int i = 0; i < digits; i++) bound *= 10;
        var seen = new HashSet<UInt128>();
        var firstDigit = new int[10];
        const int n = 2000;
        for (int i = 0; i < n; i++)
        {
            var psk = OspPsk.Generate(bits, rng);
            Assert.Equal(digits, psk.Digits);
            Assert.True(psk.Value < bound);
            Assert.True(psk.EntropyBits >= bits);
            seen.Add(psk.Value);
            firstDigit[(int)(psk.Value * 10 / bound)]++;
            Assert.Equal(digits + ((digits / (digits <= 9 ? 3 : 4)) - 1), psk.ToDisplayString().Length);
        }

        Assert.Equal(n, seen.Count); // no repeats at >= 29.9 bits in 2000 draws
        Assert.All(firstDigit, c => Assert.InRange(c, n / 10 / 2, n / 10 * 2)); // leading digit roughly uniform
    }

    [Fact]
    public void Equality_is_by_value()
    {
        Assert.Equal(OspPsk.FromValue(42, 9), OspPsk.FromValue(42, 3));
        Assert.NotEqual(OspPsk.FromValue(42), OspPsk.FromValue(43));
        Assert.Equal(OspPsk.FromValue(42, 9).GetHashCode(), OspPsk.FromValue(42).GetHashCode());
    }
}
