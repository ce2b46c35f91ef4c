using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;

namespace OspBridge.Crypto.Aead;

/// <summary>
/// AEGIS-128L (RFC 10032, formerly draft-irtf-cfrg-aegis-aead) with 128-bit tags — the AEAD of the TLS 1.3 cipher
/// suite <c>TLS_AEGIS_128L_SHA256</c> (0x1307), which our QUIC offers and prefers between our own agents. 16-byte key,
/// 16-byte nonce, 16-byte tag. The AES round is the CPU's AESENC instruction (constant time), so this type exists only
/// where <see cref="IsSupported"/>; no other implementation is used. Hand-written because no library served here
/// offers it with the 128-bit tag TLS requires (libsodium's <c>crypto_aead_aegis128l</c> has 256-bit tags only);
/// its ciphertext, which does not depend on the tag length, is cross-checked against libsodium in the tests.
/// <para>
/// Besides one-shot <see cref="Encrypt"/>/<see cref="TryDecrypt"/> it has an incremental form
/// (<see cref="BeginEncrypt"/> → <see cref="EncryptUpdate"/>… → <see cref="FinishEncrypt"/>, and the same for
/// decryption) whose pieces may have any lengths: QUIC seals a packet's STREAM data straight from a send ring and opens
/// it straight into a receive ring. Not thread-safe: one owner per key.
/// </para>
/// </summary>
public sealed class Aegis128L : IIncrementalAead, IDisposable
{
    /// <summary>Key length in bytes.</summary>
    public const int KeyLength = 16;

    /// <summary>Nonce length in bytes.</summary>
    public const int NonceLength = 16;

    /// <summary>Tag length in bytes (the 128-bit tag).</summary>
    public const int TagLength = 16;

    private const int Rate = 32;

    private static readonly Vector128<byte> C0 = Vector128.Create(
        (byte)0x00, 0x01, 0x01, 0x02, 0x03, 0x05, 0x08, 0x0d, 0x15, 0x22, 0x37, 0x59, 0x90, 0xe9, 0x79, 0x62);

    private static readonly Vector128<byte> C1 = Vector128.Create(
        (byte)0xdb, 0x3d, 0x18, 0x55, 0x6d, 0xc2, 0x2f, 0xf1, 0x20, 0x11, 0x31, 0x42, 0x73, 0xb5, 0x28, 0xdd);

    private Vector128<byte> _key;
    private State _state;
    private Block _pending; // plaintext of the block not yet absorbed (zero beyond _pendingLength)
    private int _pendingLength;
    private long _adLength;
    private long _messageLength;
    private Vector128<byte> _expectedTag;
    private Phase _phase;

    private enum Phase : byte { Idle, Encrypting, Decrypting }

    /// <summary>True when the CPU has the AES round instruction this implementation needs (x86 AES-NI).</summary>
    public static bool IsSupported => X86Aes.IsSupported;

    /// <summary>A cipher for a 16-byte key.</summary>
    /// <exception cref="PlatformNotSupportedException">Without <see cref="IsSupported"/>.</exception>
    public Aegis128L(ReadOnlySpan<byte> key)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("AEGIS-128L needs the AES round instruction (x86 AES-NI)");
        if (key.Length != KeyLength) throw new ArgumentException("AEGIS-128L key must be 16 bytes", nameof(key));
        _key = Vector128.Create(key);
    }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (may be the same memory) and writes the tag.</summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        BeginEncrypt(nonce, associatedData);
        EncryptUpdate(plaintext, ciphertext);
        FinishEncrypt(tag);
    }

    /// <summary>
    /// Decrypts <paramref name="ciphertext"/> into <paramref name="plaintext"/> (may be the same memory); false when the
    /// tag does not verify, and then the output is zeroed.
    /// </summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        BeginDecrypt(nonce, associatedData, tag);
        DecryptUpdate(ciphertext, plaintext);
        if (FinishDecrypt()) return true;
        plaintext[..ciphertext.Length].Clear();
        return false;
    }

    /// <summary>Starts an incremental encryption.</summary>
    public void BeginEncrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData)
    {
        Start(nonce, associatedData);
        _phase = Phase.Encrypting;
    }

    /// <summary>Encrypts the next piece of the message into <paramref name="ciphertext"/> (same length; may be the same memory).</summary>
    public void EncryptUpdate(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext)
    {
        if (_phase != Phase.Encrypting) throw new CryptoException(CryptoError.InvalidState, "EncryptUpdate outside BeginEncrypt/FinishEncrypt");
        Process(plaintext, ciphertext[..plaintext.Length], decrypt: false);
    }

    /// <summary>Ends an incremental encryption: writes the 16-byte tag.</summary>
    public void FinishEncrypt(Span<byte> tag)
    {
        if (_phase != Phase.Encrypting) throw new CryptoException(CryptoError.InvalidState, "FinishEncrypt without BeginEncrypt");
        ComputeTag().CopyTo(tag[..TagLength]);
        _phase = Phase.Idle;
    }

    /// <summary>
    /// Starts an incremental decryption that <see cref="FinishDecrypt"/> checks against <paramref name="tag"/>. Until it
    /// returns true every byte written by <see cref="DecryptUpdate"/> is unauthenticated.
    /// </summary>
    public void BeginDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag)
    {
        if (tag.Length < TagLength) throw new ArgumentException("tag must be 16 bytes", nameof(tag));
        Start(nonce, associatedData);
        _expectedTag = Vector128.Create(tag[..TagLength]);
        _phase = Phase.Decrypting;
    }

    /// <summary>Decrypts the next piece of the ciphertext into <paramref name="plaintext"/> (same length; may be the same memory).</summary>
    public void DecryptUpdate(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        if (_phase != Phase.Decrypting) throw new CryptoException(CryptoError.InvalidState, "DecryptUpdate outside BeginDecrypt/FinishDecrypt");
        Process(ciphertext, plaintext[..ciphertext.Length], decrypt: true);
    }

    /// <summary>Ends an incremental decryption: true when the tag verified (compared in constant time).</summary>
    public bool FinishDecrypt()
    {
        if (_phase != Phase.Decrypting) throw new CryptoException(CryptoError.InvalidState, "FinishDecrypt without BeginDecrypt");
        _phase = Phase.Idle;
        Span<byte> expected = stackalloc byte[TagLength];
        Span<byte> actual = stackalloc byte[TagLength];
        _expectedTag.CopyTo(expected);
        ComputeTag().CopyTo(actual);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }

    /// <summary>Forgets the key and the state.</summary>
    public void Dispose()
    {
        _key = default;
        _state = default;
        _pending = default;
        _expectedTag = default;
        _phase = Phase.Idle;
    }

    private void Start(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData)
    {
        if (nonce.Length != NonceLength) throw new ArgumentException("AEGIS-128L nonce must be 16 bytes", nameof(nonce));
        var n = Vector128.Create(nonce);
        var k = _key;
        State s;
        s.S0 = k ^ n;
        s.S1 = C1;
        s.S2 = C0;
        s.S3 = C1;
        s.S4 = k ^ n;
        s.S5 = k ^ C0;
        s.S6 = k ^ C1;
        s.S7 = k ^ C0;
        for (int i = 0; i < 10; i++) Update(ref s, n, k);
        var ad = associatedData;
        while (ad.Length >= Rate)
        {
            Update(ref s, Vector128.Create(ad), Vector128.Create(ad[16..]));
            ad = ad[Rate..];
        }
        if (!ad.IsEmpty)
        {
            Block padded = default;
            ad.CopyTo(padded.Bytes);
            Update(ref s, padded.A, padded.B);
        }
        _state = s;
        _adLength = associatedData.Length;
        _messageLength = 0;
        _pending = default;
        _pendingLength = 0;
    }

    private void Process(ReadOnlySpan<byte> input, Span<byte> output, bool decrypt)
    {
        _messageLength += input.Length;
        if (_pendingLength > 0)
        {
            int take = Math.Min(Rate - _pendingLength, input.Length);
            PartialBlock(input[..take], output[..take], decrypt);
            input = input[take..];
            output = output[take..];
            if (_pendingLength < Rate) return;
            Update(ref _state, _pending.A, _pending.B);
            _pending = default;
            _pendingLength = 0;
        }
        int full = input.Length & ~(Rate - 1);
        if (full > 0)
        {
            if (decrypt) DecryptBlocks(ref _state, input[..full], output[..full]);
            else EncryptBlocks(ref _state, input[..full], output[..full]);
        }
        if (full < input.Length) PartialBlock(input[full..], output[full..], decrypt);
    }

    /// <summary>Bytes of the block being assembled: the keystream z is fixed until the block is absorbed.</summary>
    private void PartialBlock(ReadOnlySpan<byte> input, Span<byte> output, bool decrypt)
    {
        ref var s = ref _state;
        Block z;
        z.A = s.S6 ^ s.S1 ^ (s.S2 & s.S3);
        z.B = s.S2 ^ s.S5 ^ (s.S6 & s.S7);
        var zs = z.Bytes.Slice(_pendingLength, input.Length);
        var pending = _pending.Bytes.Slice(_pendingLength, input.Length);
        for (int i = 0; i < input.Length; i++)
        {
            byte b = input[i]; // read before writing: input and output may be the same memory
            byte x = (byte)(b ^ zs[i]);
            pending[i] = decrypt ? x : b;
            output[i] = x;
        }
        _pendingLength += input.Length;
    }

    private static void EncryptBlocks(ref State state, ReadOnlySpan<byte> input, Span<byte> output)
    {
        var s = state;
        ref byte src = ref MemoryMarshal.GetReference(input);
        ref byte dst = ref MemoryMarshal.GetReference(output);
        for (nuint i = 0, n = (nuint)input.Length; i < n; i += Rate)
        {
            var t0 = Vector128.LoadUnsafe(ref src, i);
            var t1 = Vector128.LoadUnsafe(ref src, i + 16);
            var z0 = s.S6 ^ s.S1 ^ (s.S2 & s.S3);
            var z1 = s.S2 ^ s.S5 ^ (s.S6 & s.S7);
            (t0 ^ z0).StoreUnsafe(ref dst, i);
            (t1 ^ z1).StoreUnsafe(ref dst, i + 16);
            Update(ref s, t0, t1);
        }
        state = s;
    }

    private static void DecryptBlocks(ref State state, ReadOnlySpan<byte> input, Span<byte> output)
    {
        var s = state;
        ref byte src = ref MemoryMarshal.GetReference(input);
        ref byte dst = ref MemoryMarshal.GetReference(output);
        for (nuint i = 0, n = (nuint)input.Length; i < n; i += Rate)
        {
            var t0 = Vector128.LoadUnsafe(ref src, i) ^ (s.S6 ^ s.S1 ^ (s.S2 & s.S3));
            var t1 = Vector128.LoadUnsafe(ref src, i + 16) ^ (s.S2 ^ s.S5 ^ (s.S6 & s.S7));
            t0.StoreUnsafe(ref dst, i);
            t1.StoreUnsafe(ref dst, i + 16);
            Update(ref s, t0, t1);
        }
        state = s;
    }

    private Vector128<byte> ComputeTag()
    {
        if (_pendingLength > 0)
        {
            Update(ref _state, _pending.A, _pending.B); // the last partial block, zero-padded
            _pending = default;
            _pendingLength = 0;
        }
        ref var s = ref _state;
        Span<byte> lengths = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(lengths, (ulong)_adLength * 8);
        BinaryPrimitives.WriteUInt64LittleEndian(lengths[8..], (ulong)_messageLength * 8);
        var t = s.S2 ^ Vector128.Create((ReadOnlySpan<byte>)lengths);
        for (int i = 0; i < 7; i++) Update(ref s, t, t);
        var tag = s.S0 ^ s.S1 ^ s.S2 ^ s.S3 ^ s.S4 ^ s.S5 ^ s.S6;
        s = default;
        return tag;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(ref State s, Vector128<byte> m0, Vector128<byte> m1)
    {
        var n0 = X86Aes.Encrypt(s.S7, s.S0 ^ m0);
        var n1 = X86Aes.Encrypt(s.S0, s.S1);
        var n2 = X86Aes.Encrypt(s.S1, s.S2);
        var n3 = X86Aes.Encrypt(s.S2, s.S3);
        var n4 = X86Aes.Encrypt(s.S3, s.S4 ^ m1);
        var n5 = X86Aes.Encrypt(s.S4, s.S5);
        var n6 = X86Aes.Encrypt(s.S5, s.S6);
        var n7 = X86Aes.Encrypt(s.S6, s.S7);
        s.S0 = n0;
        s.S1 = n1;
        s.S2 = n2;
        s.S3 = n3;
        s.S4 = n4;
        s.S5 = n5;
        s.S6 = n6;
        s.S7 = n7;
    }

    private struct State
    {
        public Vector128<byte> S0, S1, S2, S3, S4, S5, S6, S7;
    }

    /// <summary>32 bytes: one AEGIS-128L input block.</summary>
    private struct Block
    {
        public Vector128<byte> A, B;

        [UnscopedRef]
        public Span<byte> Bytes => MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref A, 2));
    }
}
