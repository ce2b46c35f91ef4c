using System.Security.Cryptography;

namespace OspBridge.Crypto.Aead;

/// <summary>
/// The one AES-GCM of the project (QUIC packet protection, SRTP <c>AEAD_AES_128_GCM</c>/<c>AEAD_AES_256_GCM</c>, DTLS
/// AES-GCM records): libcrypto's EVP interface with the key schedule set once per key when libcrypto loads (Linux),
/// the BCL's <see cref="AesGcm"/> otherwise or when <c>OSPBRIDGE_AEAD=bcl</c> is set (A/B runs). Both produce the
/// same bytes. 16-byte tags, 12-byte nonces, 16- or 32-byte keys. Not thread-safe: one owner per key.
/// </summary>
public sealed class AesGcmCipher : IIncrementalAead, IDisposable
{
    /// <summary>The tag length in bytes.</summary>
    public const int TagLength = 16;

    private readonly OpenSslAesGcm? _native;
    private readonly AesGcm? _bcl;

    /// <summary>A cipher for a 16- or 32-byte key.</summary>
    public AesGcmCipher(ReadOnlySpan<byte> key)
        : this(key, preferNative: true, ignoreEnvironment: false)
    {
    }

    private AesGcmCipher(ReadOnlySpan<byte> key, bool preferNative, bool ignoreEnvironment)
    {
        if (key.Length is not (16 or 32)) throw new ArgumentException("AES-GCM key must be 16 or 32 bytes", nameof(key));
        if (!preferNative || (_native = OpenSslAesGcm.TryCreate(key, ignoreEnvironment)) is null) _bcl = new AesGcm(key, TagLength);
    }

    /// <summary>True when this instance runs on libcrypto (false: the BCL).</summary>
    public bool IsNative => _native is not null;

    /// <summary>True when new instances use libcrypto (it loaded and <c>OSPBRIDGE_AEAD=bcl</c> is not set).</summary>
    public static bool NativeInUse => OpenSslAesGcm.IsSupported && !OpenSslAesGcm.DisabledByEnvironment;

    /// <summary>Benchmarks and tests: an instance on a chosen implementation, whatever the environment says.</summary>
    internal static AesGcmCipher Create(ReadOnlySpan<byte> key, bool native)
    {
        var c = new AesGcmCipher(key, native, ignoreEnvironment: true);
        if (native && !c.IsNative) throw new PlatformNotSupportedException("libcrypto AES-GCM is not available");
        return c;
    }

    /// <summary>
    /// Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (may be the same memory) and writes the
    /// 16-byte tag into <paramref name="tag"/>.
    /// </summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (_native is not null) _native.Encrypt(nonce, plaintext, ciphertext[..plaintext.Length], tag[..TagLength], associatedData);
        else _bcl!.Encrypt(nonce, plaintext, ciphertext[..plaintext.Length], tag[..TagLength], associatedData);
    }

    /// <summary>
    /// Decrypts <paramref name="ciphertext"/> into <paramref name="plaintext"/> (may be the same memory); false when the
    /// tag does not verify, and then the output bytes are zeroed (never unauthenticated plaintext).
    /// </summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (_native is not null) return _native.TryDecrypt(nonce, ciphertext, tag, plaintext, associatedData);
        try
        {
            _bcl!.Decrypt(nonce, ciphertext, tag, plaintext[..ciphertext.Length], associatedData);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            plaintext[..ciphertext.Length].Clear();
            return false;
        }
    }

    /// <summary>
    /// True when this instance can encrypt or decrypt a message gathered from several pieces
    /// (<see cref="BeginEncrypt"/>/<see cref="BeginDecrypt"/>, <see cref="EncryptUpdate"/>/<see cref="DecryptUpdate"/>,
    /// <see cref="FinishEncrypt"/>/<see cref="FinishDecrypt"/>): libcrypto only. A piece may come from other memory than
    /// where its output goes, so a caller can encrypt straight out of its own buffers instead of copying into the packet
    /// first. One pass per direction at a time.
    /// </summary>
    public bool CanGather => _native is not null;

    /// <summary>Starts a gathered encryption with the nonce and the associated data (<see cref="CanGather"/> must be true).</summary>
    public void BeginEncrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData) => Native.Begin(true, nonce, associatedData, default);

    /// <summary>Encrypts the next piece of the message into <paramref name="ciphertext"/> (at least as long; may be the same memory).</summary>
    public void EncryptUpdate(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext) => Native.Update(true, plaintext, ciphertext);

    /// <summary>Ends a gathered encryption and writes the 16-byte tag.</summary>
    public void FinishEncrypt(Span<byte> tag) => Native.FinishEncrypt(tag);

    /// <summary>Starts a gathered decryption with the nonce, the associated data and the tag to verify at the end.</summary>
    public void BeginDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag) => Native.Begin(false, nonce, associatedData, tag);

    /// <summary>Decrypts the next piece into <paramref name="plaintext"/>: unauthenticated until <see cref="FinishDecrypt"/> returns true.</summary>
    public void DecryptUpdate(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext) => Native.Update(false, ciphertext, plaintext);

    /// <summary>
    /// Ends a gathered decryption: true when the tag verified. On false every byte the pass wrote is unauthenticated and
    /// must not be used (the caller discards or overwrites it; unlike <see cref="TryDecrypt"/> the pieces are not zeroed here).
    /// </summary>
    public bool FinishDecrypt() => Native.FinishDecrypt();

    private OpenSslAesGcm Native => _native ?? throw new NotSupportedException("gathered AES-GCM needs libcrypto");

    /// <summary>Releases the key (zeroed) and any native context; later use throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _native?.Dispose();
        _bcl?.Dispose();
    }
}
