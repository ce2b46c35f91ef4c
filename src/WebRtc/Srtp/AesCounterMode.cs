using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.WebRtc.Srtp;

/// <summary>
/// AES in counter mode as SRTP uses it (RFC 3711 §4.1.1): keystream block j = AES_k(IV + j), the counter being the
/// whole 128-bit block incremented big-endian. Built on the BCL's AES-ECB (no per-call allocation: counters and
/// keystream go through a caller scratch buffer).
/// </summary>
internal static class AesCounterMode
{
    /// <summary>Blocks encrypted per ECB call.</summary>
    public const int ChunkBlocks = 64;

    /// <summary>Writes the keystream starting at <paramref name="iv"/> into <paramref name="output"/>.</summary>
    public static void Keystream(Aes aes, ReadOnlySpan<byte> iv, Span<byte> output)
    {
        output.Clear();
        Span<byte> scratch = stackalloc byte[2 * ChunkBlocks * 16];
        Xor(aes, iv, output, scratch);
    }

    private static void XorInPlace(Span<byte> data, ReadOnlySpan<byte> key)
    {
        int i = 0;
        var dw = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data);
        var kw = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(key);
        for (; i < dw.Length; i++)
            dw[i] ^= kw[i];
        for (i *= 8; i < data.Length; i++)
            data[i] ^= key[i];
    }

    /// <summary>XORs <paramref name="data"/> in place with the keystream from <paramref name="iv"/>; <paramref name="scratch"/> holds 2 × <see cref="ChunkBlocks"/> × 16 octets.</summary>
    public static void Xor(Aes aes, ReadOnlySpan<byte> iv, Span<byte> data, Span<byte> scratch)
    {
        var counters = scratch[..(ChunkBlocks * 16)];
        var stream = scratch.Slice(ChunkBlocks * 16, ChunkBlocks * 16);
        ulong hi = BinaryPrimitives.ReadUInt64BigEndian(iv);
        ulong lo = BinaryPrimitives.ReadUInt64BigEndian(iv.Slice(8));
        int at = 0;
        while (at < data.Length)
        {
            int blocks = Math.Min(ChunkBlocks, (data.Length - at + 15) / 16);
            for (int b = 0; b < blocks; b++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(counters.Slice(16 * b), hi);
                BinaryPrimitives.WriteUInt64BigEndian(counters.Slice(16 * b + 8), lo);
                lo++;
                if (lo == 0)
                    hi++;
            }
            aes.EncryptEcb(counters[..(16 * blocks)], stream[..(16 * blocks)], PaddingMode.None);
            int n = Math.Min(16 * blocks, data.Length - at);
            var d = data.Slice(at, n);
            XorInPlace(d, stream[..n]);
            at += n;
        }
    }
}
