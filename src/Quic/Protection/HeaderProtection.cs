using System.Buffers.Binary;
using System.Security.Cryptography;

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

    public abstract void Dispose();

    public static HeaderProtection Create(QuicCipherSuite suite, ReadOnlySpan<byte> hpKey)
        => suite.IsChaCha ? new ChaChaHeaderProtection(hpKey) : new AesHeaderProtection(hpKey);
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
