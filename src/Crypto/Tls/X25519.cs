using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// X25519 (RFC 7748 §5) with our own arithmetic mod 2^255 - 19: five 51-bit limbs, 128-bit products,
/// Montgomery ladder with mask-based conditional swaps (no secret-dependent branches or indices).
/// The BCL on Linux has no X25519 (.NET 10), hence this file.
/// </summary>
internal static class X25519
{
    public const int KeySize = 32;
    private const ulong Mask51 = (1UL << 51) - 1;

    private struct Fe
    {
        public ulong L0, L1, L2, L3, L4;

        public Fe(ulong l0, ulong l1, ulong l2, ulong l3, ulong l4)
        {
            L0 = l0; L1 = l1; L2 = l2; L3 = l3; L4 = l4;
        }

        public static Fe One => new(1, 0, 0, 0, 0);
    }

    private static Fe FromBytes(ReadOnlySpan<byte> s)
    {
        // The most significant bit of the u-coordinate is masked (RFC 7748 §5).
        ulong l0 = BinaryPrimitives.ReadUInt64LittleEndian(s) & Mask51;
        ulong l1 = (BinaryPrimitives.ReadUInt64LittleEndian(s[6..]) >> 3) & Mask51;
        ulong l2 = (BinaryPrimitives.ReadUInt64LittleEndian(s[12..]) >> 6) & Mask51;
        ulong l3 = (BinaryPrimitives.ReadUInt64LittleEndian(s[19..]) >> 1) & Mask51;
        ulong l4 = (BinaryPrimitives.ReadUInt64LittleEndian(s[24..]) >> 12) & Mask51;
        return new Fe(l0, l1, l2, l3, l4);
    }

    private static Fe Carry(Fe a)
    {
        ulong c;
        c = a.L0 >> 51; a.L0 &= Mask51; a.L1 += c;
        c = a.L1 >> 51; a.L1 &= Mask51; a.L2 += c;
        c = a.L2 >> 51; a.L2 &= Mask51; a.L3 += c;
        c = a.L3 >> 51; a.L3 &= Mask51; a.L4 += c;
        c = a.L4 >> 51; a.L4 &= Mask51; a.L0 += c * 19;
        c = a.L0 >> 51; a.L0 &= Mask51; a.L1 += c;
        return a;
    }

    private static Fe Add(Fe a, Fe b) => Carry(new Fe(a.L0 + b.L0, a.L1 + b.L1, a.L2 + b.L2, a.L3 + b.L3, a.L4 + b.L4));

    // a - b computed as a + 4p - b so no limb underflows (b's limbs are below 2^52 after Carry).
    private static Fe Sub(Fe a, Fe b) => Carry(new Fe(
        a.L0 + 0x1FFFFFFFFFFFB4UL - b.L0,
        a.L1 + 0x1FFFFFFFFFFFFCUL - b.L1,
        a.L2 + 0x1FFFFFFFFFFFFCUL - b.L2,
        a.L3 + 0x1FFFFFFFFFFFFCUL - b.L3,
        a.L4 + 0x1FFFFFFFFFFFFCUL - b.L4));

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Mac(ref ulong hi, ref ulong lo, ulong x, ulong y)
    {
        ulong h = Math.BigMul(x, y, out ulong l);
        lo += l;
        hi += h + (lo < l ? 1UL : 0UL);
    }

    private static Fe Mul(Fe a, Fe b)
    {
        ulong b1 = b.L1 * 19, b2 = b.L2 * 19, b3 = b.L3 * 19, b4 = b.L4 * 19;
        ulong h0 = 0, l0 = 0, h1 = 0, l1 = 0, h2 = 0, l2 = 0, h3 = 0, l3 = 0, h4 = 0, l4 = 0;
        Mac(ref h0, ref l0, a.L0, b.L0); Mac(ref h0, ref l0, a.L1, b4); Mac(ref h0, ref l0, a.L2, b3); Mac(ref h0, ref l0, a.L3, b2); Mac(ref h0, ref l0, a.L4, b1);
        Mac(ref h1, ref l1, a.L0, b.L1); Mac(ref h1, ref l1, a.L1, b.L0); Mac(ref h1, ref l1, a.L2, b4); Mac(ref h1, ref l1, a.L3, b3); Mac(ref h1, ref l1, a.L4, b2);
        Mac(ref h2, ref l2, a.L0, b.L2); Mac(ref h2, ref l2, a.L1, b.L1); Mac(ref h2, ref l2, a.L2, b.L0); Mac(ref h2, ref l2, a.L3, b4); Mac(ref h2, ref l2, a.L4, b3);
        Mac(ref h3, ref l3, a.L0, b.L3); Mac(ref h3, ref l3, a.L1, b.L2); Mac(ref h3, ref l3, a.L2, b.L1); Mac(ref h3, ref l3, a.L3, b.L0); Mac(ref h3, ref l3, a.L4, b4);
        Mac(ref h4, ref l4, a.L0, b.L4); Mac(ref h4, ref l4, a.L1, b.L3); Mac(ref h4, ref l4, a.L2, b.L2); Mac(ref h4, ref l4, a.L3, b.L1); Mac(ref h4, ref l4, a.L4, b.L0);
        return Reduce(h0, l0, h1, l1, h2, l2, h3, l3, h4, l4);
    }

    /// <summary>Carries five 128-bit column sums (hi:lo) down to 51-bit limbs.</summary>
    private static Fe Reduce(ulong h0, ulong l0, ulong h1, ulong l1, ulong h2, ulong l2, ulong h3, ulong l3, ulong h4, ulong l4)
    {
        // Column values are < 2^115, so (hi:lo) >> 51 fits in 64 bits.
        ulong c = (l0 >> 51) | (h0 << 13); ulong r0 = l0 & Mask51;
        l1 += c; h1 += l1 < c ? 1UL : 0UL;
        c = (l1 >> 51) | (h1 << 13); ulong r1 = l1 & Mask51;
        l2 += c; h2 += l2 < c ? 1UL : 0UL;
        c = (l2 >> 51) | (h2 << 13); ulong r2 = l2 & Mask51;
        l3 += c; h3 += l3 < c ? 1UL : 0UL;
        c = (l3 >> 51) | (h3 << 13); ulong r3 = l3 & Mask51;
        l4 += c; h4 += l4 < c ? 1UL : 0UL;
        c = (l4 >> 51) | (h4 << 13); ulong r4 = l4 & Mask51;
        // c < 2^64 / ... ; c * 19 may exceed 64 bits only if c >= 2^59.8, impossible for column sums < 2^115.
        r0 += c * 19;
        return Carry(new Fe(r0, r1, r2, r3, r4));
    }

    private static Fe Square(Fe a) => Mul(a, a);

    private static Fe MulSmall(Fe a, ulong k)
    {
        ulong h0 = Math.BigMul(a.L0, k, out ulong l0), h1 = Math.BigMul(a.L1, k, out ulong l1), h2 = Math.BigMul(a.L2, k, out ulong l2);
        ulong h3 = Math.BigMul(a.L3, k, out ulong l3), h4 = Math.BigMul(a.L4, k, out ulong l4);
        return Reduce(h0, l0, h1, l1, h2, l2, h3, l3, h4, l4);
    }

    /// <summary>a^(p-2) = a^-1 (p - 2 = 2^255 - 21: bits 254..5 set, then 01011).</summary>
    private static Fe Invert(Fe a)
    {
        Fe r = Fe.One;
        for (int i = 254; i >= 0; i--)
        {
            r = Square(r);
            bool bit = i >= 5 || ((0b01011 >> i) & 1) == 1;
            if (bit) r = Mul(r, a); // the exponent is public: branching on it leaks nothing
        }
        return r;
    }

    private static void CSwap(ref Fe a, ref Fe b, ulong swap)
    {
        ulong m = 0 - swap, d;
        d = m & (a.L0 ^ b.L0); a.L0 ^= d; b.L0 ^= d;
        d = m & (a.L1 ^ b.L1); a.L1 ^= d; b.L1 ^= d;
        d = m & (a.L2 ^ b.L2); a.L2 ^= d; b.L2 ^= d;
        d = m & (a.L3 ^ b.L3); a.L3 ^= d; b.L3 ^= d;
        d = m & (a.L4 ^ b.L4); a.L4 ^= d; b.L4 ^= d;
    }

    private static void ToBytes(Fe a, Span<byte> output)
    {
        a = Carry(Carry(a));
        // a < 2^255 now; subtract p when a >= p, i.e. when a + 19 carries out of bit 255.
        ulong t0 = a.L0 + 19, t1 = a.L1 + (t0 >> 51), t2 = a.L2 + (t1 >> 51), t3 = a.L3 + (t2 >> 51), t4 = a.L4 + (t3 >> 51);
        ulong ge = t4 >> 51; // 1 when a >= p
        ulong m = 0 - ge;
        a.L0 = (a.L0 & ~m) | (t0 & Mask51 & m);
        a.L1 = (a.L1 & ~m) | (t1 & Mask51 & m);
        a.L2 = (a.L2 & ~m) | (t2 & Mask51 & m);
        a.L3 = (a.L3 & ~m) | (t3 & Mask51 & m);
        a.L4 = (a.L4 & ~m) | (t4 & Mask51 & m);
        Span<ulong> w = stackalloc ulong[4];
        w[0] = a.L0 | (a.L1 << 51);
        w[1] = (a.L1 >> 13) | (a.L2 << 38);
        w[2] = (a.L2 >> 26) | (a.L3 << 25);
        w[3] = (a.L3 >> 39) | (a.L4 << 12);
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteUInt64LittleEndian(output[(8 * i)..], w[i]);
    }

    /// <summary>X25519(k, u) with scalar clamping (RFC 7748 §5).</summary>
    public static byte[] ScalarMult(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> u)
    {
        if (scalar.Length != KeySize || u.Length != KeySize) throw new CryptoException(CryptoError.Malformed, "X25519 inputs are 32 bytes", 47);
        Span<byte> k = stackalloc byte[32];
        scalar.CopyTo(k);
        k[0] &= 248;
        k[31] &= 127;
        k[31] |= 64;
        Fe x1 = FromBytes(u), x2 = Fe.One, z2 = default, x3 = x1, z3 = Fe.One;
        ulong swap = 0;
        for (int t = 254; t >= 0; t--)
        {
            ulong kt = (ulong)(k[t >> 3] >> (t & 7)) & 1;
            swap ^= kt;
            CSwap(ref x2, ref x3, swap);
            CSwap(ref z2, ref z3, swap);
            swap = kt;
            Fe a = Add(x2, z2), aa = Square(a), b = Sub(x2, z2), bb = Square(b), e = Sub(aa, bb);
            Fe c = Add(x3, z3), d = Sub(x3, z3), da = Mul(d, a), cb = Mul(c, b);
            x3 = Square(Add(da, cb));
            z3 = Mul(x1, Square(Sub(da, cb)));
            x2 = Mul(aa, bb);
            z2 = Mul(e, Add(aa, MulSmall(e, 121665)));
        }
        CSwap(ref x2, ref x3, swap);
        CSwap(ref z2, ref z3, swap);
        CryptographicOperations.ZeroMemory(k);
        var result = new byte[32];
        ToBytes(Mul(x2, Invert(z2)), result);
        return result;
    }

    private static readonly byte[] BasePoint = [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>Creates a random private key and its public key.</summary>
    public static (byte[] Private, byte[] Public) GenerateKeyPair()
    {
        var priv = RandomNumberGenerator.GetBytes(32);
        return (priv, ScalarMult(priv, BasePoint));
    }

    /// <summary>The shared secret; illegal_parameter when it is all zeros (small-order peer point, RFC 7748 §6.1 / RFC 8446 §7.4.2).</summary>
    public static byte[] Agree(ReadOnlySpan<byte> priv, ReadOnlySpan<byte> peerPublic)
    {
        if (peerPublic.Length != KeySize) throw new CryptoException(CryptoError.Malformed, "X25519 key share must be 32 bytes", 47);
        var s = ScalarMult(priv, peerPublic);
        byte acc = 0;
        foreach (byte b in s) acc |= b;
        if (acc == 0) throw new CryptoException(CryptoError.Malformed, "X25519 shared secret is zero", 47);
        return s;
    }
}
