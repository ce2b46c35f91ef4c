using System.Buffers.Binary;
using OspBridge.Crypto.Aead;

namespace OspBridge.Crypto.Dtls;

/// <summary>
/// AES-GCM record protection of one direction (RFC 5288 §3, RFC 5246 §6.2.3.3 with the DTLS sequence number):
/// <code>
/// GenericAEADCipher = nonce_explicit (8) || aead-ciphered content || tag (16)
/// nonce = write_IV salt (4) || nonce_explicit (8)  — we use epoch||sequence_number as nonce_explicit
/// additional_data = epoch (2) || sequence_number (6) || type (1) || version (2) || plaintext length (2)
/// </code>
/// </summary>
internal sealed class DtlsAeadCipher : IDisposable
{
    public const int ExplicitNonceSize = 8;
    public const int TagSize = 16;
    public const int Overhead = ExplicitNonceSize + TagSize;

    private readonly AesGcmCipher _aes;
    private readonly byte[] _salt;

    public DtlsAeadCipher(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt)
    {
        _aes = new AesGcmCipher(key);
        _salt = salt.ToArray();
    }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="dest"/> (length plaintext + <see cref="Overhead"/>).</summary>
    public void Seal(ulong epochSeq, byte type, ushort version, ReadOnlySpan<byte> plaintext, Span<byte> dest)
    {
        Span<byte> nonce = stackalloc byte[12];
        _salt.CopyTo(nonce);
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], epochSeq);
        Span<byte> aad = stackalloc byte[13];
        WriteAad(aad, epochSeq, type, version, plaintext.Length);
        nonce[4..].CopyTo(dest);
        _aes.Encrypt(nonce, plaintext, dest.Slice(ExplicitNonceSize, plaintext.Length), dest.Slice(ExplicitNonceSize + plaintext.Length, TagSize), aad);
    }

    /// <summary>Decrypts a GenericAEADCipher fragment into <paramref name="dest"/>; false when it does not authenticate.</summary>
    public bool TryOpen(ulong epochSeq, byte type, ushort version, ReadOnlySpan<byte> fragment, Span<byte> dest, out int written)
    {
        written = 0;
        if (fragment.Length < Overhead) return false;
        int len = fragment.Length - Overhead;
        Span<byte> nonce = stackalloc byte[12];
        _salt.CopyTo(nonce);
        fragment[..ExplicitNonceSize].CopyTo(nonce[4..]);
        Span<byte> aad = stackalloc byte[13];
        WriteAad(aad, epochSeq, type, version, len);
        if (!_aes.TryDecrypt(nonce, fragment.Slice(ExplicitNonceSize, len), fragment.Slice(ExplicitNonceSize + len, TagSize), dest[..len], aad))
            return false; // dest[..len] zeroed by the cipher
        written = len;
        return true;
    }

    private static void WriteAad(Span<byte> aad, ulong epochSeq, byte type, ushort version, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(aad, epochSeq);
        aad[8] = type;
        BinaryPrimitives.WriteUInt16BigEndian(aad[9..], version);
        BinaryPrimitives.WriteUInt16BigEndian(aad[11..], (ushort)length);
    }

    public void Dispose() => _aes.Dispose();
}
