using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using Sse2 = System.Runtime.Intrinsics.X86.Sse2;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;

namespace OspBridge.Quic.Protection;

/// <summary>
/// Header protection mask (RFC 9001 §5.4): 5 mask bytes computed from a 16-byte ciphertext sample.
/// Instances keep their cipher state and scratch buffers so computing a mask allocates nothing.
/// </summary>
internal abstract class HeaderProtection : IDisposable
{
    public const int SampleLength = 16;

    /// <summary>Writes 5 mask bytes for <paramref name="sample"/>.</summary>
    public abstract void ComputeMask(ReadOnlySpan<byte> sample, Span<byte> mask);

    /// <summary>The 5 mask bytes for <paramref name="sample"/> in one value: mask byte <c>i</c> is bits <c>8i..8i+7</c>.</summary>
    public virtual ulong Mask(ReadOnlySpan<byte> sample)
    {
        Span<byte> mask = stackalloc byte[8];
        mask.Clear();
        ComputeMask(sample, mask);
        return BinaryPrimitives.ReadUInt64LittleEndian(mask) & 0xFF_FFFF_FFFFUL;
    }

    public abstract void Dispose();

    public static HeaderProtection Create(QuicCipherSuite suite, ReadOnlySpan<byte> hpKey)
        => suite.IsChaCha ? new ChaChaHeaderProtection(hpKey)
            : suite.IsAegis ? new AegisHeaderProtection(hpKey)
            : AesNiHeaderProtection.IsSupported ? new AesNiHeaderProtection(hpKey)
            : new AesHeaderProtection(hpKey);
}

/// <summary>AES-ECB header protection (RFC 9001 §5.4.3): mask = AES-ECB(hp_key, sample).</summary>
internal sealed class AesHeaderProtection : HeaderProtection
{
    private readonly Aes _aes;
    private readonly ICryptoTransform _encryptor;
    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];

    public AesHeaderProtection(ReadOnlySpan<byte> key)
    {
        _aes = Aes.Create();
        _aes.Key = key.ToArray();
        _aes.Mode = CipherMode.ECB;
        _aes.Padding = PaddingMode.None;
        _encryptor = _aes.CreateEncryptor();
    }

    public override void ComputeMask(ReadOnlySpan<byte> sample, Span<byte> mask)
    {
        sample[..16].CopyTo(_in);
        _encryptor.TransformBlock(_in, 0, 16, _out, 0);
        _out.AsSpan(0, 5).CopyTo(mask);
    }

    public override void Dispose() { _encryptor.Dispose(); _aes.Dispose(); }
}

/// <summary>
/// AEGIS-128L header protection (RFC 10032, "QUIC Header Protection"): mask = the 128-bit tag of
/// AEGIS-128L Encrypt(msg = "", ad = "", hp_key, nonce = sample); the first 5 bytes are used.
/// </summary>
internal sealed class AegisHeaderProtection : HeaderProtection
{
    private readonly OspBridge.Crypto.Aead.Aegis128L _aegis;

    public AegisHeaderProtection(ReadOnlySpan<byte> key) => _aegis = new OspBridge.Crypto.Aead.Aegis128L(key);

    public override void ComputeMask(ReadOnlySpan<byte> sample, Span<byte> mask)
    {
        Span<byte> tag = stackalloc byte[OspBridge.Crypto.Aead.Aegis128L.TagLength];
        _aegis.BeginEncrypt(sample[..SampleLength], default);
        _aegis.FinishEncrypt(tag);
        tag[..5].CopyTo(mask);
    }

    public override void Dispose() => _aegis.Dispose();
}

/// <summary>ChaCha20 header protection (RFC 9001 §5.4.4): counter = sample[0..4] LE, nonce = sample[4..16], mask = ChaCha20(zeros)[0..5].</summary>
internal sealed class ChaChaHeaderProtection : HeaderProtection
{
    private readonly byte[] _key;

    public ChaChaHeaderProtection(ReadOnlySpan<byte> key) => _key = key.ToArray();

    public override void ComputeMask(ReadOnlySpan<byte> sample, Span<byte> mask)
    {
        Span<byte> block = stackalloc byte[64];
        ChaCha20Block.Compute(_key, BinaryPrimitives.ReadUInt32LittleEndian(sample), sample.Slice(4, 12), block);
        block[..5].CopyTo(mask);
    }

    public override void Dispose() => CryptographicOperations.ZeroMemory(_key);
}

/// <summary>
/// AES-ECB header protection with the CPU's AES instructions (AES-NI): one block per packet costs ~10 AESENC
/// instructions instead of a call into OpenSSL through an <see cref="ICryptoTransform"/> (which showed in the
/// profile as EVP_CipherUpdate + ERR_clear_error per packet). Round keys are expanded once with AESKEYGENASSIST.
/// Checked against the BCL's AES-ECB in the tests (AES-128 and AES-256).
/// </summary>
internal sealed class AesNiHeaderProtection : HeaderProtection
{
    private readonly Vector128<byte>[] _roundKeys;

    public static bool IsSupported => X86Aes.IsSupported && Sse2.IsSupported;

    public AesNiHeaderProtection(ReadOnlySpan<byte> key)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("AES-NI");
        _roundKeys = key.Length switch
        {
            16 => Expand128(key),
            32 => Expand256(key),
            _ => throw new ArgumentException("AES header protection key must be 16 or 32 bytes", nameof(key)),
        };
    }

    public override void ComputeMask(ReadOnlySpan<byte> sample, Span<byte> mask)
    {
        ulong m = Mask(sample);
        for (int i = 0; i < 5; i++) mask[i] = (byte)(m >> (8 * i));
    }

    /// <summary>One AES block in registers; the mask is the low 5 bytes of the result (no buffer, no copies: per packet).</summary>
    public override ulong Mask(ReadOnlySpan<byte> sample)
    {
        var rk = _roundKeys;
        var s = Vector128.Create(sample[..16]) ^ rk[0];
        for (int r = 1; r < rk.Length - 1; r++) s = X86Aes.Encrypt(s, rk[r]);
        s = X86Aes.EncryptLast(s, rk[^1]);
        return s.AsUInt64().ToScalar() & 0xFF_FFFF_FFFFUL;
    }

    public override void Dispose() => Array.Clear(_roundKeys);

    private static Vector128<byte> Spread(Vector128<byte> k)
    {
        // k ^ (k << 32) ^ (k << 64) ^ (k << 96): the running XOR of the previous round key's words
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        return k;
    }

    private static Vector128<byte> Broadcast(Vector128<byte> v, [System.Diagnostics.CodeAnalysis.ConstantExpected] byte control) =>
        Sse2.Shuffle(v.AsInt32(), control).AsByte();

    private static Vector128<byte> Next128(Vector128<byte> previous, Vector128<byte> assist) =>
        Spread(previous) ^ Broadcast(assist, 0xFF);

    private static Vector128<byte>[] Expand128(ReadOnlySpan<byte> key)
    {
        var rk = new Vector128<byte>[11];
        rk[0] = Vector128.Create(key);
        // KeygenAssist needs its round constant as an immediate, hence the unrolled rounds (FIPS-197 Rcon).
        rk[1] = Next128(rk[0], X86Aes.KeygenAssist(rk[0], 0x01));
        rk[2] = Next128(rk[1], X86Aes.KeygenAssist(rk[1], 0x02));
        rk[3] = Next128(rk[2], X86Aes.KeygenAssist(rk[2], 0x04));
        rk[4] = Next128(rk[3], X86Aes.KeygenAssist(rk[3], 0x08));
        rk[5] = Next128(rk[4], X86Aes.KeygenAssist(rk[4], 0x10));
        rk[6] = Next128(rk[5], X86Aes.KeygenAssist(rk[5], 0x20));
        rk[7] = Next128(rk[6], X86Aes.KeygenAssist(rk[6], 0x40));
        rk[8] = Next128(rk[7], X86Aes.KeygenAssist(rk[7], 0x80));
        rk[9] = Next128(rk[8], X86Aes.KeygenAssist(rk[8], 0x1b));
        rk[10] = Next128(rk[9], X86Aes.KeygenAssist(rk[9], 0x36));
        return rk;
    }

    private static Vector128<byte>[] Expand256(ReadOnlySpan<byte> key)
    {
        var rk = new Vector128<byte>[15];
        rk[0] = Vector128.Create(key[..16]);
        rk[1] = Vector128.Create(key[16..32]);
        // Even round keys: RotWord+SubWord+Rcon of the previous key's last word (word 3 of KeygenAssist);
        // odd ones: SubWord only (word 2, round constant 0).
        rk[2] = Spread(rk[0]) ^ Broadcast(X86Aes.KeygenAssist(rk[1], 0x01), 0xFF);
        rk[3] = Spread(rk[1]) ^ Broadcast(X86Aes.KeygenAssist(rk[2], 0x00), 0xAA);
        rk[4] = Spread(rk[2]) ^ Broadcast(X86Aes.KeygenAssist(rk[3], 0x02), 0xFF);
        rk[5] = Spread(rk[3]) ^ Broadcast(X86Aes.KeygenAssist(rk[4], 0x00), 0xAA);
        rk[6] = Spread(rk[4]) ^ Broadcast(X86Aes.KeygenAssist(rk[5], 0x04), 0xFF);
        rk[7] = Spread(rk[5]) ^ Broadcast(X86Aes.KeygenAssist(rk[6], 0x00), 0xAA);
        rk[8] = Spread(rk[6]) ^ Broadcast(X86Aes.KeygenAssist(rk[7], 0x08), 0xFF);
        rk[9] = Spread(rk[7]) ^ Broadcast(X86Aes.KeygenAssist(rk[8], 0x00), 0xAA);
        rk[10] = Spread(rk[8]) ^ Broadcast(X86Aes.KeygenAssist(rk[9], 0x10), 0xFF);
        rk[11] = Spread(rk[9]) ^ Broadcast(X86Aes.KeygenAssist(rk[10], 0x00), 0xAA);
        rk[12] = Spread(rk[10]) ^ Broadcast(X86Aes.KeygenAssist(rk[11], 0x20), 0xFF);
        rk[13] = Spread(rk[11]) ^ Broadcast(X86Aes.KeygenAssist(rk[12], 0x00), 0xAA);
        rk[14] = Spread(rk[12]) ^ Broadcast(X86Aes.KeygenAssist(rk[13], 0x40), 0xFF);
        return rk;
    }
}
