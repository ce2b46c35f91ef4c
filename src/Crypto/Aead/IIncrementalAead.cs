namespace OspBridge.Crypto.Aead;

/// <summary>
/// An AEAD whose message can be encrypted or decrypted piece by piece, each piece from and to any memory: QUIC seals a
/// packet's STREAM data straight from a send ring and opens it straight into a receive ring. Implemented by
/// <see cref="AesGcmCipher"/> (on libcrypto) and <see cref="Aegis128L"/>. One operation at a time per instance.
/// </summary>
public interface IIncrementalAead
{
    /// <summary>Starts an encryption with this nonce and associated data.</summary>
    void BeginEncrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData);

    /// <summary>Encrypts the next piece into <paramref name="ciphertext"/> (same length; may be the same memory).</summary>
    void EncryptUpdate(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext);

    /// <summary>Ends the encryption: writes the 16-byte tag.</summary>
    void FinishEncrypt(Span<byte> tag);

    /// <summary>Starts a decryption that <see cref="FinishDecrypt"/> checks against <paramref name="tag"/>; until then every output byte is unauthenticated.</summary>
    void BeginDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag);

    /// <summary>Decrypts the next piece into <paramref name="plaintext"/> (same length; may be the same memory).</summary>
    void DecryptUpdate(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext);

    /// <summary>Ends the decryption: true when the tag verified.</summary>
    bool FinishDecrypt();
}
