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

    /// <summary>True when <see cref="SealGathered"/> can take payload pieces from other memory (AES-GCM on libcrypto).</summary>
    public bool CanGather => _gcm is { CanGather: true };

    /// <summary>
    /// Encrypts <paramref name="payload"/> in place except the <paramref name="pieces"/>, whose plaintext is read from
    /// their source (e.g. a stream's send ring) straight into their place in the payload — the same bytes and tag as
    /// copying them in first and calling <see cref="Seal"/>, one copy fewer. Pieces are in ascending payload order and
    /// do not overlap; only when <see cref="CanGather"/>.
    /// </summary>
    public void SealGathered(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> payload, ReadOnlySpan<SealPiece> pieces, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(packetNumber, nonce);
        var gcm = _gcm!;
        gcm.BeginEncrypt(nonce, header);
        int pos = 0;
        foreach (ref readonly var piece in pieces)
        {
            gcm.EncryptUpdate(payload[pos..piece.Offset], payload[pos..piece.Offset]);
            gcm.EncryptUpdate(piece.Source.AsSpan(piece.SourceIndex, piece.Length), payload.Slice(piece.Offset, piece.Length));
            pos = piece.Offset + piece.Length;
        }
        gcm.EncryptUpdate(payload[pos..], payload[pos..]);
        gcm.FinishEncrypt(tag[..TagLength]);
    }

    /// <summary>
    /// Starts a gathered open (<see cref="CanGather"/> only): the payload is then decrypted piece by piece with
    /// <see cref="OpenUpdate"/>, each piece into wherever the caller wants its plaintext, and
    /// <see cref="FinishOpenGathered"/> verifies the tag — before it returns true every written byte is unauthenticated.
    /// </summary>
    public void BeginOpenGathered(ulong packetNumber, ReadOnlySpan<byte> header, ReadOnlySpan<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(packetNumber, nonce);
        _gcm!.BeginDecrypt(nonce, header, tag[..TagLength]);
    }

    /// <summary>Decrypts the next piece of a gathered open into <paramref name="plaintext"/> (may be the same memory).</summary>
    public void OpenUpdate(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext) => _gcm!.DecryptUpdate(ciphertext, plaintext);

    /// <summary>Ends a gathered open: true when the packet authenticated.</summary>
    public bool FinishOpenGathered() => _gcm!.FinishDecrypt();

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
