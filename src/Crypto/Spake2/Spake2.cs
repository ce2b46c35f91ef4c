using System.Security.Cryptography;

namespace OspBridge.Crypto.Spake2;

/// <summary>
/// One party of a SPAKE2 exchange (RFC 9382), sans-IO: no network, no clock. Usage:
/// <see cref="Create"/> → send <see cref="PublicShare"/> → <see cref="TryProcessPeerShare"/> with the peer's share →
/// send <see cref="Confirmation"/> → <see cref="TryVerifyPeerConfirmation"/> → <see cref="ExportSharedKey"/> (Ke).
/// The shared key is released only after the peer's confirmation verified. Secrets are zeroed on <see cref="Dispose"/>.
/// A received share is checked for group membership (and, for edwards25519, multiplied by the cofactor).
/// </summary>
public sealed class Spake2 : IDisposable
{
    private Spake2()
    {
    }

    /// <summary>The suite in use.</summary>
    public Spake2Suite Suite => throw new NotImplementedException();

    /// <summary>This party's role.</summary>
    public Spake2Role Role => throw new NotImplementedException();

    /// <summary>This party's share: pA for Alice, pB for Bob (32-byte point for edwards25519, 65-byte uncompressed SEC1 for P-256).</summary>
    public ReadOnlySpan<byte> PublicShare => throw new NotImplementedException();

    /// <summary>This party's key-confirmation MAC (cA or cB, the hash's length); empty until <see cref="TryProcessPeerShare"/> succeeded.</summary>
    public ReadOnlySpan<byte> Confirmation => throw new NotImplementedException();

    /// <summary>True once the peer's confirmation verified.</summary>
    public bool IsConfirmed => throw new NotImplementedException();

    /// <summary>
    /// Starts an exchange.
    /// </summary>
    /// <param name="suite">The ciphersuite.</param>
    /// <param name="role">Alice or Bob.</param>
    /// <param name="password">pw: the password bytes; w = Hash(pw) mod p as the suite's profile defines (see docs/pairing.md).</param>
    /// <param name="identityA">A's identity (may be empty).</param>
    /// <param name="identityB">B's identity (may be empty).</param>
    /// <param name="random">Source of the secret scalar (a CSPRNG; tests pass a seeded one).</param>
    public static Spake2 Create(Spake2Suite suite, Spake2Role role, ReadOnlySpan<byte> password,
        ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> identityB, RandomNumberGenerator random) =>
        throw new NotImplementedException();

    /// <summary>Takes the peer's share, computes K, the transcript and the keys. False (and no state change) on an invalid share.</summary>
    public bool TryProcessPeerShare(ReadOnlySpan<byte> peerShare, out Spake2Error error) => throw new NotImplementedException();

    /// <summary>Verifies the peer's confirmation MAC in constant time.</summary>
    public bool TryVerifyPeerConfirmation(ReadOnlySpan<byte> peerConfirmation, out Spake2Error error) => throw new NotImplementedException();

    /// <summary>The shared key Ke (half of Hash(TT)); only after <see cref="IsConfirmed"/>.</summary>
    /// <exception cref="CryptoException">The peer's confirmation has not verified.</exception>
    public byte[] ExportSharedKey() => throw new NotImplementedException();

    /// <summary>Zeroes x/y, w, K, TT and the keys.</summary>
    public void Dispose() => throw new NotImplementedException();
}
