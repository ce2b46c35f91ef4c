using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// X25519 (RFC 7748 §5) from libsodium (<c>crypto_scalarmult_curve25519</c>, constant-time, audited), the vetted
/// implementation this project uses instead of its own field arithmetic; the BCL on Linux has no X25519 (.NET 10).
/// The native library comes from the <c>libsodium</c> NuGet package (runtimes/&lt;rid&gt;/native, resolved through
/// the app's deps.json). See docs/architecture.md "Libraries" for why libsodium over BouncyCastle.
/// </summary>
internal static class X25519
{
    public const int KeySize = 32;

    /// <summary>X25519(k, u): libsodium clamps the scalar and masks the top bit of u (RFC 7748 §5).</summary>
    /// <exception cref="CryptoException">Bad input length, or <paramref name="u"/> is a small-order point (the result would be zero).</exception>
    public static byte[] ScalarMult(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> u)
    {
        if (scalar.Length != KeySize || u.Length != KeySize) throw new CryptoException(CryptoError.Malformed, "X25519 inputs are 32 bytes", TlsAlert.IllegalParameter);
        Sodium.EnsureInitialized();
        var k = scalar.ToArray();
        var result = new byte[KeySize];
        try
        {
            // libsodium refuses small-order points and an all-zero result (RFC 7748 §6.1, RFC 8446 §7.4.2) with -1.
            if (crypto_scalarmult_curve25519(result, k, u.ToArray()) != 0)
                throw new CryptoException(CryptoError.Malformed, "X25519 shared secret is zero (small-order point)", TlsAlert.IllegalParameter);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(k);
        }
        return result;
    }

    /// <summary>Creates a random private key and its public key (X25519(k, 9)).</summary>
    public static (byte[] Private, byte[] Public) GenerateKeyPair() => GenerateKeyPair(EphemeralKeys.SystemRandom);

    /// <summary>Creates a private key drawn from <paramref name="random"/> and its public key (X25519(k, 9)).</summary>
    public static (byte[] Private, byte[] Public) GenerateKeyPair(RandomNumberGenerator random)
    {
        Sodium.EnsureInitialized();
        var priv = new byte[KeySize];
        random.GetBytes(priv);
        var pub = new byte[KeySize];
        if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
            throw new CryptoException(CryptoError.InternalError, "X25519 key generation failed");
        return (priv, pub);
    }

    /// <summary>The shared secret; illegal_parameter when it is all zeros (small-order peer point, RFC 7748 §6.1 / RFC 8446 §7.4.2).</summary>
    public static byte[] Agree(ReadOnlySpan<byte> priv, ReadOnlySpan<byte> peerPublic)
    {
        if (peerPublic.Length != KeySize) throw new CryptoException(CryptoError.Malformed, "X25519 key share must be 32 bytes", TlsAlert.IllegalParameter);
        var s = ScalarMult(priv, peerPublic);
        byte acc = 0;
        foreach (byte b in s) acc |= b;
        if (acc == 0) throw new CryptoException(CryptoError.Malformed, "X25519 shared secret is zero", TlsAlert.IllegalParameter);
        return s;
    }

    /// <summary>The version of the libsodium that was loaded (e.g. "1.0.22"), or null when it cannot be loaded.</summary>
    public static string? NativeVersion => Sodium.NativeVersion;

#pragma warning disable SYSLIB1054 // DllImport with blittable arrays needs no generated (unsafe) marshalling code
    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_curve25519(byte[] q, byte[] n, byte[] p);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_curve25519_base(byte[] q, byte[] n);
#pragma warning restore SYSLIB1054
}
