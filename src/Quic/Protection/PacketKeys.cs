using System.Buffers.Binary;
using System.Security.Cryptography;
using OspBridge.Crypto;
using OspBridge.Crypto.Aead;

namespace OspBridge.Quic.Protection;

/// <summary>
/// AEAD key + IV + header-protection key of one direction at one encryption level (RFC 9001 §5.1), derived
/// from a traffic secret with "quic key", "quic iv", "quic hp". Nonce = IV XOR left-padded packet number.
/// </summary>
internal sealed class PacketKeys : IDisposable
{
    public const int TagLength = 16;

    private readonly AesGcmCipher? _gcm;
    private readonly ChaCha20Poly1305? _chacha;
    private readonly byte[] _iv;

    public PacketKeys(QuicCipherSuite suite, ReadOnlySpan<byte> secret, HeaderProtection? reuseHp = null)
    {
        Suite = suite;
        Secret = secret.ToArray();
        Span<byte> key = stackalloc byte[suite.KeyLength];
        HkdfLabel.ExpandLabel(suite.Hash, secret, "quic key", default, key);
        _iv = HkdfLabel.ExpandLabel(suite.Hash, secret, "quic iv", default, 12);
        if (suite.IsChaCha) _chacha = new ChaCha20Poly1305(key);
        else _gcm = new AesGcmCipher(key);
        Key = key.ToArray();
        if (reuseHp is null)
        {
            Span<byte> hp = stackalloc byte[suite.KeyLength];
            HkdfLabel.ExpandLabel(suite.Hash, secret, "quic hp", default, hp);
            HpKey = hp.ToArray();
            HeaderProtection = HeaderProtection.Create(suite, hp);
        }
        else
        {
            HeaderProtection = reuseHp;
            HpKey = [];
        }
        CryptographicOperations.ZeroMemory(key);
    }

    public QuicCipherSuite Suite { get; }
    public byte[] Secret { get; }
    public byte[] Key { get; }
    public byte[] Iv => _iv;
    public byte[] HpKey { get; }
    public HeaderProtection HeaderProtection { get; }

    /// <summary>
    /// Keys of the next key phase (RFC 9001 §6.1): the TLS engine's <see cref="OspBridge.Crypto.Tls.QuicTls.NextKeyUpdateSecret"/>
    /// (secret' = HKDF-Expand-Label(secret, "quic ku")); the header-protection key does not change.
    /// </summary>
    public PacketKeys NextPhase()
    {
        var next = OspBridge.Crypto.Tls.QuicTls.NextKeyUpdateSecret(Suite.Suite, Secret);
        try { return new PacketKeys(Suite, next, HeaderProtection); }
        finally { CryptographicOperations.ZeroMemory(next); }
    }

    private void Nonce(ulong packetNumber, Span<byte> nonce)
    {
        _iv.CopyTo(nonce);
        ulong x = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ packetNumber;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], x);
    }

    /// <summary>Encrypts <paramref name="payload"/> in place and writes the tag into <paramref name="tag"/>.</summary>
    public void Seal(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> payload, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(packetNumber, nonce);
        if (_gcm is not null) _gcm.Encrypt(nonce, payload, payload, tag[..TagLength], header);
        else _chacha!.Encrypt(nonce, payload, payload, tag[..TagLength], header);
    }

    /// <summary>Decrypts in place; false when authentication fails.</summary>
    public bool TryOpen(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> ciphertext, ReadOnlySpan<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(packetNumber, nonce);
        if (_gcm is not null) return _gcm.TryDecrypt(nonce, ciphertext, tag, ciphertext, header);
        try
        {
            _chacha!.Decrypt(nonce, ciphertext, tag, ciphertext, header);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _gcm?.Dispose();
        _chacha?.Dispose();
        CryptographicOperations.ZeroMemory(Secret);
    }
}
