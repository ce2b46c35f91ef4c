using System.Runtime.InteropServices;

namespace OspBridge.Crypto;

/// <summary>
/// Loading and initializing the native libsodium (from the libsodium NuGet package) once for every user in this library
/// (X25519 for TLS, edwards25519 for SPAKE2).
/// </summary>
internal static class Sodium
{
    // sodium_init: 0 = initialized now, 1 = already initialized, -1 = failure. A missing native library is a failure too.
    private static readonly Lazy<bool> Initialized = new(() =>
    {
        try { return sodium_init() >= 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    });

    /// <summary>True when libsodium loaded and initialized.</summary>
    public static bool IsAvailable => Initialized.Value;

    /// <summary>The version of the libsodium that was loaded (e.g. "1.0.22"), or null when it cannot be loaded.</summary>
    public static string? NativeVersion => Initialized.Value ? Marshal.PtrToStringUTF8(sodium_version_string()) : null;

    /// <summary>Throws unless libsodium is usable.</summary>
    /// <exception cref="CryptoException">libsodium is missing or failed to initialize.</exception>
    public static void EnsureInitialized()
    {
        if (!Initialized.Value)
            throw new CryptoException(CryptoError.InternalError, "libsodium (native, from the libsodium NuGet package) is missing or failed to initialize");
    }

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern int sodium_init();

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr sodium_version_string();
}
