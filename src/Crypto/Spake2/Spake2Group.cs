using System.Security.Cryptography;

namespace OspBridge.Crypto.Spake2;

/// <summary>
/// The prime-order group of a SPAKE2 suite with its fixed elements M and N (RFC 9382 §3.1, §6). Scalars travel as
/// byte strings in the suite's transcript encoding (edwards25519: 32 bytes little-endian; P-256: 32 bytes big-endian),
/// elements in their wire encoding. Scalars are always canonical (reduced mod p) and the secret scalar is never zero.
/// </summary>
internal abstract class Spake2Group
{
    /// <summary>Length of an encoded group element (a share, K).</summary>
    public abstract int ElementSize { get; }

    /// <summary>Length of an encoded scalar (w, x, y).</summary>
    public abstract int ScalarSize { get; }

    /// <summary>w = Hash(pw) mod p in the suite's profile (SHA-512 for both suites here; see docs/spake2.md).</summary>
    public abstract byte[] HashPassword(ReadOnlySpan<byte> password);

    /// <summary>A uniformly random non-zero scalar from <paramref name="random"/>.</summary>
    public abstract byte[] RandomScalar(RandomNumberGenerator random);

    /// <summary>True when <paramref name="scalar"/> is the canonical encoding of an integer in [0, p).</summary>
    public abstract bool IsCanonicalScalar(ReadOnlySpan<byte> scalar);

    /// <summary>The share w·(M or N) + x·P (M for Alice, N for Bob).</summary>
    public abstract byte[] ComputeShare(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w, bool useM);

    /// <summary>
    /// Checks the peer's share for group membership and computes K = h·x·(peerShare − w·(M or N)). False when the
    /// share is not a valid encoding of an element of the prime-order subgroup or K would be the identity.
    /// </summary>
    public abstract bool TryComputeSharedElement(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w,
        ReadOnlySpan<byte> peerShare, bool peerUsesM, out byte[] k);

    /// <summary>The group of <paramref name="suite"/>.</summary>
    public static Spake2Group For(Spake2Suite suite) => suite switch
    {
        Spake2Suite.Edwards25519Sha256 => Edwards25519Group.Instance,
        Spake2Suite.P256Sha256 => P256Group.Instance,
        _ => throw new CryptoException(CryptoError.InternalError, $"unknown SPAKE2 suite {suite}"),
    };

    /// <summary>True when every byte is zero (constant time in the length).</summary>
    protected static bool IsZero(ReadOnlySpan<byte> value)
    {
        int acc = 0;
        foreach (byte b in value) acc |= b;
        return acc == 0;
    }
}
