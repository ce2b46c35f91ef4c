using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Osp.Auth;

/// <summary>
/// The one-time PSK P of OSP PIN pairing (Open Screen Network Protocol §Authentication and Appendix B): an integer
/// shown by the presenter (grouped base-10 digits, or hex in a QR code) and typed by the user on the consumer.
/// </summary>
/// <remarks>
/// <para>Generation: <see cref="Generate"/> draws P uniformly from [0, 10^d) with a CSPRNG, where d is the smallest
/// digit count whose entropy (d·log2 10) reaches the required bits, rounded up to a whole number of display groups
/// (3 digits up to 9, 4 above), so that every shown digit carries entropy. 20 bits → 9 digits (29.9 bits),
/// 30 → 12 (39.9), 40 → 16 (53.2), 60 → 20 (66.4).</para>
/// <para>Display (<see cref="ToDisplayString"/>): the spec's base-10 grouping applied to P written with d digits. Up to
/// 9 digits: groups of 3; more: groups of 4; left-padded with zeros to a whole group. Two spec quirks are fixed (decoding
/// is unaffected, since it strips dashes and leading zeros): a length that already fills its groups gets no extra
/// zero group (the spec's <c>3 − len mod 3</c> would add three zeros), and exactly 9 digits (undefined in the spec)
/// is grouped in threes.</para>
/// <para>SPAKE2 password (<see cref="ToPasswordBytes"/>): the ASCII decimal digits of P, canonical: no dashes, no
/// leading zeros, "0" for zero (docs/pairing.md, decision 2).</para>
/// </remarks>
public sealed class OspPsk : IEquatable<OspPsk>
{
    /// <summary>Smallest psk-min-bits-of-entropy the spec allows (and the default).</summary>
    public const int MinEntropyBits = 20;

    /// <summary>Largest psk-min-bits-of-entropy the spec allows.</summary>
    public const int MaxEntropyBits = 60;

    /// <summary>Most decimal digits accepted by <see cref="TryParse"/> (Appendix B allows P up to 80 bits: 25 digits).</summary>
    public const int MaxDigits = 25;

    private static readonly UInt128 MaxValue = (UInt128.One << 80) - 1;

    private OspPsk(UInt128 value, int digits)
    {
        Value = value;
        Digits = digits;
    }

    /// <summary>P.</summary>
    public UInt128 Value { get; }

    /// <summary>How many decimal digits P is shown with (leading zeros included).</summary>
    public int Digits { get; }

    /// <summary>The entropy of a PSK drawn uniformly from [0, 10^<see cref="Digits"/>), in bits.</summary>
    public double EntropyBits => Digits * Math.Log2(10);

    /// <summary>Clamps a psk-min-bits-of-entropy value into the spec's range 20..60.</summary>
    public static int ClampEntropyBits(ulong bits) => bits < MinEntropyBits ? MinEntropyBits : bits > MaxEntropyBits ? MaxEntropyBits : (int)bits;

    /// <summary>The number of digits <see cref="Generate"/> uses for <paramref name="entropyBits"/> (clamped to 20..60).</summary>
    public static int DigitsFor(int entropyBits)
    {
        int bits = ClampEntropyBits((ulong)Math.Max(entropyBits, 0));
        int d = (int)Math.Ceiling(bits / Math.Log2(10));
        int group = d <= 9 ? 3 : 4;
        return (d + group - 1) / group * group;
    }

    /// <summary>Draws a fresh PSK with at least <paramref name="entropyBits"/> bits (clamped to 20..60) from <paramref name="random"/>.</summary>
    public static OspPsk Generate(int entropyBits, RandomNumberGenerator random)
    {
        ArgumentNullException.ThrowIfNull(random);
        int digits = DigitsFor(entropyBits);
        UInt128 bound = Pow10(digits);
        int bitLength = 128 - (int)UInt128.LeadingZeroCount(bound - 1);
        UInt128 mask = bitLength == 128 ? UInt128.MaxValue : (UInt128.One << bitLength) - 1;
        Span<byte> buffer = stackalloc byte[16];
        try
        {
            while (true)
            {
                random.GetBytes(buffer);
                UInt128 candidate = new UInt128(BitConverter.ToUInt64(buffer[8..]), BitConverter.ToUInt64(buffer[..8])) & mask;
                if (candidate < bound)
                {
                    return new OspPsk(candidate, digits);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>A PSK from its value, shown with at least <paramref name="digits"/> digits (tests, QR decoding).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds 80 bits or <paramref name="digits"/> is out of 1..25.</exception>
    public static OspPsk FromValue(UInt128 value, int digits = 1)
    {
        if (value > MaxValue) throw new ArgumentOutOfRangeException(nameof(value), "a PSK has at most 80 bits");
        if (digits is < 1 or > MaxDigits) throw new ArgumentOutOfRangeException(nameof(digits));
        int natural = value.ToString(CultureInfo.InvariantCulture).Length;
        return new OspPsk(value, Math.Max(digits, natural));
    }

    /// <summary>
    /// Parses a PIN as a user types it: decimal digits, optionally grouped by dashes or spaces (any grouping,
    /// leading and trailing blanks ignored). The digit count typed becomes <see cref="Digits"/>.
    /// </summary>
    public static bool TryParse(string? text, out OspPsk psk)
    {
        psk = null!;
        if (text is null) return false;
        UInt128 value = 0;
        int digits = 0;
        foreach (char c in text.AsSpan().Trim())
        {
            if (c is '-' or ' ' or '\u00a0')
            {
                continue;
            }

            if (c is < '0' or > '9' || ++digits > MaxDigits)
            {
                return false;
            }

            value = (value * 10) + (uint)(c - '0');
        }

        if (digits == 0 || value > MaxValue) return false;
        psk = new OspPsk(value, digits);
        return true;
    }

    /// <summary>Parses the QR payload: P as a hex string (either case, no prefix).</summary>
    public static bool TryParseHex(string? text, out OspPsk psk)
    {
        psk = null!;
        var span = text.AsSpan().Trim();
        if (span.IsEmpty || span.Length > 20) return false;
        UInt128 value = 0;
        foreach (char c in span)
        {
            int nibble = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'f' => c - 'a' + 10,
                >= 'A' and <= 'F' => c - 'A' + 10,
                _ => -1,
            };
            if (nibble < 0) return false;
            value = (value << 4) | (uint)nibble;
        }

        if (value > MaxValue) return false;
        psk = FromValue(value);
        return true;
    }

    /// <summary>The spec's base-10 display form, e.g. <c>0614-8854-8833</c> for 61488548833.</summary>
    public string ToDisplayString()
    {
        string digits = Value.ToString(CultureInfo.InvariantCulture).PadLeft(Digits, '0');
        int group = digits.Length <= 9 ? 3 : 4;
        int pad = (group - (digits.Length % group)) % group;
        digits = new string('0', pad) + digits;
        var sb = new StringBuilder(digits.Length + (digits.Length / group));
        for (int i = 0; i < digits.Length; i += group)
        {
            if (i > 0) sb.Append('-');
            sb.Append(digits, i, group);
        }

        return sb.ToString();
    }

    /// <summary>The QR payload: P as lower-case hex without leading zeros ("0" for zero).</summary>
    public string ToHexString() => Value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>The SPAKE2 password pw: the canonical ASCII decimal digits of P (no dashes, no leading zeros).</summary>
    public byte[] ToPasswordBytes() => Encoding.ASCII.GetBytes(Value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Equal when the values are equal (the displayed digit count does not matter).</summary>
    public bool Equals(OspPsk? other) => other is not null && other.Value == Value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as OspPsk);

    /// <inheritdoc/>
    public override int GetHashCode() => Value.GetHashCode();

    /// <summary>The display form (a PSK is a secret: do not log it).</summary>
    public override string ToString() => ToDisplayString();

    private static UInt128 Pow10(int n)
    {
        UInt128 r = 1;
        for (int i = 0; i < n; i++) r *= 10;
        return r;
    }
}
