using System.Buffers.Binary;
using System.Numerics;

namespace OspBridge.Quic.Protection;

/// <summary>
/// The ChaCha20 block function (RFC 8439 §2.3), needed for QUIC ChaCha20 header protection (RFC 9001 §5.4.4),
/// which the BCL does not expose (it only has the AEAD). State: constants, 256-bit key, 32-bit block counter,
/// 96-bit nonce; 20 rounds (10 column + diagonal double rounds); output = state + initial state, little-endian.
/// </summary>
internal static class ChaCha20Block
{
    /// <summary>Computes one 64-byte keystream block.</summary>
    public static void Compute(ReadOnlySpan<byte> key, uint counter, ReadOnlySpan<byte> nonce, Span<byte> output)
    {
        if (key.Length != 32 || nonce.Length != 12 || output.Length < 64)
            throw new ArgumentException("ChaCha20 needs a 32-byte key, 12-byte nonce and a 64-byte output");
        Span<uint> s = stackalloc uint[16];
        s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
        for (int i = 0; i < 8; i++) s[4 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
        s[12] = counter;
        for (int i = 0; i < 3; i++) s[13 + i] = BinaryPrimitives.ReadUInt32LittleEndian(nonce[(4 * i)..]);
        Span<uint> x = stackalloc uint[16];
        s.CopyTo(x);
        for (int i = 0; i < 10; i++)
        {
            QuarterRound(x, 0, 4, 8, 12); QuarterRound(x, 1, 5, 9, 13);
            QuarterRound(x, 2, 6, 10, 14); QuarterRound(x, 3, 7, 11, 15);
            QuarterRound(x, 0, 5, 10, 15); QuarterRound(x, 1, 6, 11, 12);
            QuarterRound(x, 2, 7, 8, 13); QuarterRound(x, 3, 4, 9, 14);
        }
        for (int i = 0; i < 16; i++) BinaryPrimitives.WriteUInt32LittleEndian(output[(4 * i)..], x[i] + s[i]);
    }

    private static void QuarterRound(Span<uint> x, int a, int b, int c, int d)
    {
        x[a] += x[b]; x[d] = BitOperations.RotateLeft(x[d] ^ x[a], 16);
        x[c] += x[d]; x[b] = BitOperations.RotateLeft(x[b] ^ x[c], 12);
        x[a] += x[b]; x[d] = BitOperations.RotateLeft(x[d] ^ x[a], 8);
        x[c] += x[d]; x[b] = BitOperations.RotateLeft(x[b] ^ x[c], 7);
    }
}
