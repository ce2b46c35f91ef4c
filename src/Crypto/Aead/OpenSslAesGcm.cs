using System.Runtime.InteropServices;

namespace OspBridge.Crypto.Aead;

/// <summary>
/// AES-GCM straight on libcrypto's EVP interface, with the key schedule set once per key and only
/// the nonce per packet: five libcrypto calls per packet (init with the nonce, AAD, payload, final, tag) and
/// nothing else. The BCL's <see cref="System.Security.Cryptography.AesGcm"/> goes through the runtime's native
/// shim, which clears OpenSSL's error queue (<c>ERR_clear_error</c>) on entry to each of its calls and sets the
/// nonce length every time — 3.8 % of all samples in session 5's 200 MiB profile. The error queue is cleared here
/// only after a failed open (where OpenSSL may have queued an error). Used through <see cref="AesGcmCipher"/> (QUIC
/// packets, SRTP AEAD_AES_*_GCM, DTLS AES-GCM records) when libcrypto (OpenSSL 1.1/3) loads; that type falls back to
/// the BCL otherwise, or when <c>OSPBRIDGE_AEAD=bcl</c> (or the older <c>OSPBRIDGE_QUIC_AEAD=bcl</c>) is set.
/// Not thread-safe (one connection loop owns a key), like the BCL type. The native contexts are released by
/// <see cref="Dispose"/> or, if that never runs, by their safe handles' finalizers.
/// </summary>
internal sealed unsafe class OpenSslAesGcm : IDisposable
{
    private const int EVP_CTRL_GCM_GET_TAG = 0x10;
    private const int EVP_CTRL_GCM_SET_TAG = 0x11;
    private const int TagLength = 16;

    private static readonly Api? Native = Api.TryLoad();

    /// <summary><c>OSPBRIDGE_AEAD=bcl</c> or <c>OSPBRIDGE_QUIC_AEAD=bcl</c> (A/B runs): read once, not per key.</summary>
    internal static readonly bool DisabledByEnvironment =
        Environment.GetEnvironmentVariable("OSPBRIDGE_AEAD") == "bcl" || Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_AEAD") == "bcl";

    private readonly byte[] _key;
    private CipherContext? _encrypt;
    private CipherContext? _decrypt;
    private bool _disposed;

    private OpenSslAesGcm(ReadOnlySpan<byte> key) => _key = key.ToArray();

    /// <summary>True when libcrypto's EVP functions were found.</summary>
    public static bool IsSupported => Native is not null;

    /// <summary>A cipher for a 16- or 32-byte key, or null when libcrypto is unavailable (or disabled by the environment).</summary>
    public static OpenSslAesGcm? TryCreate(ReadOnlySpan<byte> key, bool ignoreEnvironment = false)
    {
        if (Native is null || (DisabledByEnvironment && !ignoreEnvironment) || key.Length is not (16 or 32)) return null;
        return new OpenSslAesGcm(key);
    }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (may be the same memory) and writes the 16-byte tag.</summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (nonce.Length != 12 || ciphertext.Length < plaintext.Length || tag.Length < TagLength) throw new ArgumentException("bad AES-GCM buffer sizes");
        ObjectDisposedException.ThrowIf(_disposed, this); // the key is zeroed: never encrypt with it
        var api = Native!;
        nint ctx = (_encrypt ??= CipherContext.Create(api, _key, encrypt: true)).Pointer;
        fixed (byte* t = tag)
        {
            if (Pass(api, ctx, encrypt: true, nonce, associatedData, plaintext, ciphertext, t)) return;
        }
        api.ErrClearError();
        throw new System.Security.Cryptography.CryptographicException("libcrypto AES-GCM encryption failed");
    }

    /// <summary>Decrypts into <paramref name="plaintext"/> (may be the same memory); false when the tag does not verify.</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (nonce.Length != 12 || plaintext.Length < ciphertext.Length || tag.Length != TagLength) throw new ArgumentException("bad AES-GCM buffer sizes");
        ObjectDisposedException.ThrowIf(_disposed, this);
        var api = Native!;
        nint ctx = (_decrypt ??= CipherContext.Create(api, _key, encrypt: false)).Pointer;
        fixed (byte* t = tag)
        {
            if (Pass(api, ctx, encrypt: false, nonce, associatedData, ciphertext, plaintext, t)) return true;
        }
        api.ErrClearError();
        // Never hand out unauthenticated plaintext.
        plaintext[..ciphertext.Length].Clear();
        return false;
    }

    /// <summary>
    /// Starts a gathered pass (<see cref="Update"/> per piece, then <see cref="FinishEncrypt"/> or
    /// <see cref="FinishDecrypt"/>): the nonce and the associated data; for decryption the expected tag too.
    /// </summary>
    public void Begin(bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag)
    {
        if (nonce.Length != 12 || (!encrypt && tag.Length != TagLength)) throw new ArgumentException("bad AES-GCM buffer sizes");
        ObjectDisposedException.ThrowIf(_disposed, this);
        var api = Native!;
        nint ctx = encrypt ? (_encrypt ??= CipherContext.Create(api, _key, encrypt: true)).Pointer : (_decrypt ??= CipherContext.Create(api, _key, encrypt: false)).Pointer;
        int outl;
        bool ok;
        fixed (byte* n = nonce)
        fixed (byte* aad = associatedData)
        fixed (byte* t = tag)
        {
            ok = api.CipherInit(ctx, 0, 0, null, n, encrypt ? 1 : 0) == 1
                && (associatedData.IsEmpty || api.CipherUpdate(ctx, null, &outl, aad, associatedData.Length) == 1)
                && (encrypt || api.CipherCtrl(ctx, EVP_CTRL_GCM_SET_TAG, TagLength, t) == 1);
        }
        if (ok) return;
        api.ErrClearError();
        throw new System.Security.Cryptography.CryptographicException("libcrypto AES-GCM setup failed");
    }

    /// <summary>The next piece of a gathered pass: <paramref name="input"/> into <paramref name="output"/> (same length; may be the same memory).</summary>
    public void Update(bool encrypt, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.IsEmpty) return;
        if (output.Length < input.Length) throw new ArgumentException("bad AES-GCM buffer sizes");
        var api = Native!;
        nint ctx = (encrypt ? _encrypt : _decrypt)?.Pointer ?? throw new InvalidOperationException("no gathered pass was begun");
        int outl;
        fixed (byte* pin = input)
        fixed (byte* pout = output)
        {
            if (api.CipherUpdate(ctx, pout, &outl, pin, input.Length) == 1 && outl == input.Length) return;
        }
        api.ErrClearError();
        throw new System.Security.Cryptography.CryptographicException("libcrypto AES-GCM update failed");
    }

    /// <summary>Ends a gathered encryption and writes the 16-byte tag.</summary>
    public void FinishEncrypt(Span<byte> tag)
    {
        if (tag.Length < TagLength) throw new ArgumentException("bad AES-GCM buffer sizes");
        var api = Native!;
        nint ctx = _encrypt?.Pointer ?? throw new InvalidOperationException("no gathered pass was begun");
        int outl;
        byte none;
        fixed (byte* t = tag)
        {
            if (api.CipherFinal(ctx, &none, &outl) == 1 && api.CipherCtrl(ctx, EVP_CTRL_GCM_GET_TAG, TagLength, t) == 1) return;
        }
        api.ErrClearError();
        throw new System.Security.Cryptography.CryptographicException("libcrypto AES-GCM encryption failed");
    }

    /// <summary>Ends a gathered decryption: true when the tag verified (false: everything it wrote is unauthenticated).</summary>
    public bool FinishDecrypt()
    {
        var api = Native!;
        nint ctx = _decrypt?.Pointer ?? throw new InvalidOperationException("no gathered pass was begun");
        int outl;
        byte none;
        if (api.CipherFinal(ctx, &none, &outl) == 1) return true;
        api.ErrClearError();
        return false;
    }

    /// <summary>
    /// One GCM pass on a context whose key is set: the nonce, the associated data, the text, then the tag — read after
    /// the final step when encrypting, set before it when decrypting (the final step then verifies it). False when a
    /// libcrypto call fails (for decryption: the tag does not verify). Marked for inlining: in both callers
    /// <paramref name="encrypt"/> is a constant, so each runs the same five libcrypto calls it ran when written out by
    /// hand (session 9 `quic aead`: CPU ns per packet unchanged within noise, 0 B per packet).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static bool Pass(Api api, nint ctx, bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> input, Span<byte> output, byte* tag)
    {
        int outl;
        fixed (byte* n = nonce)
        fixed (byte* aad = associatedData)
        fixed (byte* pin = input)
        fixed (byte* pout = output)
        {
            return api.CipherInit(ctx, 0, 0, null, n, encrypt ? 1 : 0) == 1
                && (associatedData.IsEmpty || api.CipherUpdate(ctx, null, &outl, aad, associatedData.Length) == 1)
                && (input.IsEmpty || api.CipherUpdate(ctx, pout, &outl, pin, input.Length) == 1)
                && (encrypt || api.CipherCtrl(ctx, EVP_CTRL_GCM_SET_TAG, TagLength, tag) == 1)
                && api.CipherFinal(ctx, pout + input.Length, &outl) == 1
                && (!encrypt || api.CipherCtrl(ctx, EVP_CTRL_GCM_GET_TAG, TagLength, tag) == 1);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _encrypt?.Dispose();
        _decrypt?.Dispose();
        _encrypt = _decrypt = null;
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_key);
    }

    /// <summary>An EVP_CIPHER_CTX with its key set; freed once (Dispose or finalizer).</summary>
    private sealed class CipherContext : SafeHandle
    {
        private readonly Api _api;

        private CipherContext(Api api) : base(0, ownsHandle: true) => _api = api;

        public nint Pointer => handle;

        public override bool IsInvalid => handle == 0;

        public static CipherContext Create(Api api, byte[] key, bool encrypt)
        {
            var c = new CipherContext(api);
            c.SetHandle(api.CtxNew());
            if (c.IsInvalid) throw new System.Security.Cryptography.CryptographicException("EVP_CIPHER_CTX_new failed");
            fixed (byte* k = key)
            {
                nint cipher = key.Length == 16 ? api.Aes128Gcm() : api.Aes256Gcm();
                if (api.CipherInitKey(c.handle, cipher, 0, k, null, encrypt ? 1 : 0) != 1)
                {
                    api.ErrClearError();
                    c.Dispose();
                    throw new System.Security.Cryptography.CryptographicException("libcrypto AES-GCM key setup failed");
                }
            }
            return c;
        }

        protected override bool ReleaseHandle()
        {
            _api.CtxFree(handle);
            return true;
        }
    }

    /// <summary>The libcrypto entry points (loaded once; null when the library or a symbol is missing).</summary>
    private sealed class Api
    {
        public delegate* unmanaged<nint> CtxNew;
        public delegate* unmanaged<nint, void> CtxFree;
        public delegate* unmanaged<nint> Aes128Gcm;
        public delegate* unmanaged<nint> Aes256Gcm;
        // Key setup (once per key): OpenSSL 3 fetches the algorithm there, under its locks — a normal transition.
        public delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int> CipherInitKey;
        // Per-packet calls are short (≈ 1 µs for a full packet with AES-NI) and never block: no GC transition.
        public delegate* unmanaged[SuppressGCTransition]<nint, nint, nint, byte*, byte*, int, int> CipherInit;
        public delegate* unmanaged[SuppressGCTransition]<nint, byte*, int*, byte*, int, int> CipherUpdate;
        public delegate* unmanaged[SuppressGCTransition]<nint, byte*, int*, int> CipherFinal;
        public delegate* unmanaged[SuppressGCTransition]<nint, int, int, void*, int> CipherCtrl;
        public delegate* unmanaged[SuppressGCTransition]<void> ErrClearError;

        public static Api? TryLoad()
        {
            if (!OperatingSystem.IsLinux()) return null;
            nint lib = 0;
            foreach (var name in (string[])["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"])
                if (NativeLibrary.TryLoad(name, out lib)) break;
            if (lib == 0) return null;
            try
            {
                return new Api
                {
                    CtxNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_new"),
                    CtxFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_free"),
                    Aes128Gcm = (delegate* unmanaged<nint>)NativeLibrary.GetExport(lib, "EVP_aes_128_gcm"),
                    Aes256Gcm = (delegate* unmanaged<nint>)NativeLibrary.GetExport(lib, "EVP_aes_256_gcm"),
                    CipherInitKey = (delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int>)NativeLibrary.GetExport(lib, "EVP_CipherInit_ex"),
                    CipherInit = (delegate* unmanaged[SuppressGCTransition]<nint, nint, nint, byte*, byte*, int, int>)NativeLibrary.GetExport(lib, "EVP_CipherInit_ex"),
                    CipherUpdate = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, int*, byte*, int, int>)NativeLibrary.GetExport(lib, "EVP_CipherUpdate"),
                    CipherFinal = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, int*, int>)NativeLibrary.GetExport(lib, "EVP_CipherFinal_ex"),
                    CipherCtrl = (delegate* unmanaged[SuppressGCTransition]<nint, int, int, void*, int>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_ctrl"),
                    ErrClearError = (delegate* unmanaged[SuppressGCTransition]<void>)NativeLibrary.GetExport(lib, "ERR_clear_error"),
                };
            }
            catch (EntryPointNotFoundException)
            {
                return null;
            }
        }
    }
}
