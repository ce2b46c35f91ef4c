using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OspBridge.Crypto.Spake2;

/// <summary>
/// edwards25519 for SPAKE2 (RFC 9382 suite edwards25519-SHA256-HKDF-HMAC-SHA256), all group arithmetic from libsodium
/// (<c>crypto_core_ed25519_*</c>, <c>crypto_scalarmult_ed25519_*noclamp</c>: constant-time, audited), none of it
/// hand-written. Elements are 32-byte compressed encodings (RFC 8032 §5.1.2); scalars 32 bytes little-endian mod L.
/// libsodium's noclamp multiplications clear the scalar's top bit and fail on a zero scalar or an identity result,
/// so every scalar is reduced mod L first (then the top bit is already clear) and a zero scalar is handled here.
/// </summary>
internal sealed class Edwards25519Group : Spake2Group
{
    public static readonly Edwards25519Group Instance = new();

    private const int Size = 32;

    // RFC 9382 §6 (seeds "edwards25519 point generation seed (M)" / "(N)"); tests/vectors/spake2_check.py regenerates them.
    private static readonly byte[] PointM = Convert.FromHexString("d048032c6ea0b6d697ddc2e86bda85a33adac920f1bf18e1b0c6d166a5cecdaf");
    private static readonly byte[] PointN = Convert.FromHexString("d3bfb518f44f3430f29d0c92af503865a1ed3281dc69b35dd868ba85f886c4ab");

    // The identity (0, 1), compressed.
    private static readonly byte[] IdentityPoint = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    // The cofactor h = 8 as a scalar.
    private static readonly byte[] Cofactor = [8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    private static readonly byte[] Order = Convert.FromHexString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");

    private Edwards25519Group()
    {
    }

    public override int ElementSize => Size;

    public override int ScalarSize => Size;

    /// <summary>w = SHA-512(pw) as a 512-bit little-endian integer mod L (decision 3 of docs/spake2.md).</summary>
    public override byte[] HashPassword(ReadOnlySpan<byte> password)
    {
        Sodium.EnsureInitialized();
        var digest = SHA512.HashData(password);
        var w = new byte[Size];
        crypto_core_ed25519_scalar_reduce(w, digest);
        CryptographicOperations.ZeroMemory(digest);
        return w;
    }

    public override byte[] RandomScalar(RandomNumberGenerator random)
    {
        Sodium.EnsureInitialized();
        var wide = new byte[64];
        var scalar = new byte[Size];
        try
        {
            // 512 random bits reduced mod L: bias below 2^-259. A zero result (probability ~2^-252) is drawn again.
            for (int attempt = 0; attempt < 16; attempt++)
            {
                random.GetBytes(wide);
                crypto_core_ed25519_scalar_reduce(scalar, wide);
                if (!IsZero(scalar)) return scalar;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(wide);
        }
        throw new CryptoException(CryptoError.InternalError, "the random number generator returned only zero scalars");
    }

    public override bool IsCanonicalScalar(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != Size) return false;
        // scalar < L, compared from the most significant (last) byte.
        for (int i = Size - 1; i >= 0; i--)
        {
            if (scalar[i] < Order[i]) return true;
            if (scalar[i] > Order[i]) return false;
        }
        return false;
    }

    public override byte[] ComputeShare(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w, bool useM)
    {
        Sodium.EnsureInitialized();
        var x = secretScalar.ToArray();
        var wm = MultiplyFixed(w, useM ? PointM : PointN);
        var xp = new byte[Size];
        var share = new byte[Size];
        try
        {
            if (crypto_scalarmult_ed25519_base_noclamp(xp, x) != 0)
                throw new CryptoException(CryptoError.InternalError, "edwards25519: x·P failed (zero scalar)");
            if (crypto_core_ed25519_add(share, wm, xp) != 0)
                throw new CryptoException(CryptoError.InternalError, "edwards25519: w·M + x·P failed");
            return share;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(x);
            CryptographicOperations.ZeroMemory(wm);
            CryptographicOperations.ZeroMemory(xp);
        }
    }

    public override bool TryComputeSharedElement(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w,
        ReadOnlySpan<byte> peerShare, bool peerUsesM, out byte[] k)
    {
        k = [];
        if (peerShare.Length != Size) return false;
        Sodium.EnsureInitialized();
        var peer = peerShare.ToArray();
        // Canonical encoding, on the curve, not of small order, in the prime-order subgroup (RFC 9382 §7).
        if (crypto_core_ed25519_is_valid_point(peer) != 1) return false;

        var wn = MultiplyFixed(w, peerUsesM ? PointM : PointN);
        var t = new byte[Size];
        var x = secretScalar.ToArray();
        var hx = new byte[Size];
        var result = new byte[Size];
        try
        {
            if (crypto_core_ed25519_sub(t, peer, wn) != 0) return false;
            // K = h·x·t computed as ((h·x) mod L)·t: t is in the prime-order subgroup (both operands are), so the
            // reduction does not change the result. libsodium fails when t is the identity (pB = w·N) or when K is.
            crypto_core_ed25519_scalar_mul(hx, x, Cofactor);
            if (crypto_scalarmult_ed25519_noclamp(result, hx, t) != 0) return false;
            if (CryptographicOperations.FixedTimeEquals(result, IdentityPoint)) return false;
            k = result;
            result = [];
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(wn);
            CryptographicOperations.ZeroMemory(t);
            CryptographicOperations.ZeroMemory(x);
            CryptographicOperations.ZeroMemory(hx);
            CryptographicOperations.ZeroMemory(result);
        }
    }

    // s·Q for a fixed element Q of prime order; s = 0 gives the identity (libsodium refuses a zero scalar).
    private static byte[] MultiplyFixed(ReadOnlySpan<byte> scalar, byte[] point)
    {
        if (IsZero(scalar)) return (byte[])IdentityPoint.Clone();
        var s = scalar.ToArray();
        var q = new byte[Size];
        try
        {
            if (crypto_scalarmult_ed25519_noclamp(q, s, point) != 0)
                throw new CryptoException(CryptoError.InternalError, "edwards25519: multiplying a fixed element failed");
            return q;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(s);
        }
    }

#pragma warning disable SYSLIB1054 // DllImport with blittable arrays needs no generated (unsafe) marshalling code
    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_core_ed25519_is_valid_point(byte[] p);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_core_ed25519_add(byte[] r, byte[] p, byte[] q);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_core_ed25519_sub(byte[] r, byte[] p, byte[] q);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern void crypto_core_ed25519_scalar_reduce(byte[] r, byte[] s);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern void crypto_core_ed25519_scalar_mul(byte[] z, byte[] x, byte[] y);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_ed25519_noclamp(byte[] q, byte[] n, byte[] p);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_ed25519_base_noclamp(byte[] q, byte[] n);
#pragma warning restore SYSLIB1054
}
