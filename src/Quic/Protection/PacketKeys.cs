using System.Buffers.Binary;
using System.Security.Cryptography;
using OspBridge.Crypto;
using OspBridge.Crypto.Aead;

namespace OspBridge.Quic.Protection;

/// <summary>
/// AEAD key + IV + header-protection key of one direction at one encryption level (RFC 9001 §5.1), derived
/// from a traffic secret with "quic key", "quic iv", "quic hp". Nonce = IV XOR left-padded packet number. The IV is
/// the AEAD's nonce length: 12 bytes, 16 for AEGIS-128L.
/// </summary>
internal sealed class PacketKeys : IDisposable
{
    public const int TagLength = 16;

    private readonly AesGcmCipher? _gcm;
    private readonly ChaCha20Poly1305? _chacha;
    private readonly Aegis128L? _aegis;
    private readonly IIncrementalAead? _gather; // the AEAD that takes pieces (AEGIS-128L; AES-GCM on libcrypto), or null
    private readonly byte[] _iv;

    public PacketKeys(QuicCipherSuite suite, ReadOnlySpan<byte> secret, HeaderProtection? reuseHp = null)
    {
        Suite = suite;
        Secret = secret.ToArray();
        Span<byte> key = stackalloc byte[suite.KeyLength];
        HkdfLabel.ExpandLabel(suite.Hash, secret, "quic key", default, key);
        _iv = HkdfLabel.ExpandLabel(suite.Hash, secret, "quic iv", default, suite.IvLength);
        if (suite.IsChaCha) _chacha = new ChaCha20Poly1305(key);
        else if (suite.IsAegis) _aegis = new Aegis128L(key);
        else _gcm = new AesGcmCipher(key);
        _gather = _aegis is not null ? _aegis : _gcm is { CanGather: true } ? _gcm : null;
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

    private const int MaxNonce = 16;

    /// <summary>Writes the nonce (IV XOR the packet number in its last 8 bytes) and returns it, <see cref="QuicCipherSuite.IvLength"/> bytes.</summary>
    private Span<byte> Nonce(ulong packetNumber, Span<byte> buffer)
    {
        var nonce = buffer[.._iv.Length];
        _iv.CopyTo(nonce);
        var last8 = nonce[^8..];
        BinaryPrimitives.WriteUInt64BigEndian(last8, BinaryPrimitives.ReadUInt64BigEndian(last8) ^ packetNumber);
        return nonce;
    }

    /// <summary>Encrypts <paramref name="payload"/> in place and writes the tag into <paramref name="tag"/>.</summary>
    public void Seal(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> payload, Span<byte> tag)
    {
        var nonce = Nonce(packetNumber, stackalloc byte[MaxNonce]);
        if (_gcm is not null) _gcm.Encrypt(nonce, payload, payload, tag[..TagLength], header);
        else if (_aegis is not null) _aegis.Encrypt(nonce, payload, payload, tag[..TagLength], header);
        else _chacha!.Encrypt(nonce, payload, payload, tag[..TagLength], header);
    }

    /// <summary>True when <see cref="SealGathered"/> can take payload pieces from other memory (AES-GCM on libcrypto, AEGIS-128L).</summary>
    public bool CanGather => _gather is not null;

    /// <summary>
    /// Encrypts <paramref name="payload"/> in place except the <paramref name="pieces"/>, whose plaintext is read from
    /// their source (e.g. a stream's send ring) straight into their place in the payload — the same bytes and tag as
    /// copying them in first and calling <see cref="Seal"/>, one copy fewer. Pieces are in ascending payload order and
    /// do not overlap; only when <see cref="CanGather"/>.
    /// </summary>
    public void SealGathered(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> payload, ReadOnlySpan<SealPiece> pieces, Span<byte> tag)
    {
        var nonce = Nonce(packetNumber, stackalloc byte[MaxNonce]);
        var aead = _gather!;
        aead.BeginEncrypt(nonce, header);
        int pos = 0;
        foreach (ref readonly var piece in pieces)
        {
            aead.EncryptUpdate(payload[pos..piece.Offset], payload[pos..piece.Offset]);
            aead.EncryptUpdate(piece.Source.AsSpan(piece.SourceIndex, piece.Length), payload.Slice(piece.Offset, piece.Length));
            pos = piece.Offset + piece.Length;
        }
        aead.EncryptUpdate(payload[pos..], payload[pos..]);
        aead.FinishEncrypt(tag[..TagLength]);
    }

    /// <summary>
    /// Starts a gathered open (<see cref="CanGather"/> only): the payload is then decrypted piece by piece with
    /// <see cref="OpenUpdate"/>, each piece into wherever the caller wants its plaintext, and
    /// <see cref="FinishOpenGathered"/> verifies the tag — before it returns true every written byte is unauthenticated.
    /// </summary>
    public void BeginOpenGathered(ulong packetNumber, ReadOnlySpan<byte> header, ReadOnlySpan<byte> tag)
    {
        var nonce = Nonce(packetNumber, stackalloc byte[MaxNonce]);
        _gather!.BeginDecrypt(nonce, header, tag[..TagLength]);
    }

    /// <summary>Decrypts the next piece of a gathered open into <paramref name="plaintext"/> (may be the same memory).</summary>
    public void OpenUpdate(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext) => _gather!.DecryptUpdate(ciphertext, plaintext);

    /// <summary>Ends a gathered open: true when the packet authenticated.</summary>
    public bool FinishOpenGathered() => _gather!.FinishDecrypt();

    /// <summary>Decrypts in place; false when authentication fails.</summary>
    public bool TryOpen(ulong packetNumber, ReadOnlySpan<byte> header, Span<byte> ciphertext, ReadOnlySpan<byte> tag)
    {
        var nonce = Nonce(packetNumber, stackalloc byte[MaxNonce]);
        if (_gcm is not null) return _gcm.TryDecrypt(nonce, ciphertext, tag, ciphertext, header);
        if (_aegis is not null) return _aegis.TryDecrypt(nonce, ciphertext, tag, ciphertext, header);
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
        _aegis?.Dispose();
        CryptographicOperations.ZeroMemory(Secret);
    }
}
