using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Crypto.Spake2;

/// <summary>
/// One party of a SPAKE2 exchange (RFC 9382), sans-IO: no network, no clock. Usage:
/// <see cref="Create"/> → send <see cref="PublicShare"/> → <see cref="TryProcessPeerShare"/> with the peer's share →
/// send <see cref="Confirmation"/> → <see cref="TryVerifyPeerConfirmation"/> → <see cref="ExportSharedKey"/> (Ke).
/// The shared key is released only after the peer's confirmation verified. Secrets are zeroed on <see cref="Dispose"/>.
/// A received share is checked for group membership (and, for edwards25519, multiplied by the cofactor).
/// One object is one exchange: the secret scalar is drawn in <see cref="Create"/>, used once for K and then zeroed,
/// so it is never reused. The OSP profile (pw bytes, identities, the 64-byte confirmation field) is in docs/spake2.md.
/// </summary>
public sealed class Spake2 : IDisposable
{
    /// <summary>Size of OSP's <c>auth-spake2-confirmation</c> field (<c>bytes .size 64</c>): the 32-byte HMAC, then 32 zero bytes.</summary>
    public const int OspConfirmationFieldSize = 64;

    private const int MacSize = 32;
    private const int HalfHash = 16;
    private static readonly byte[] ConfirmationKeysInfo = "ConfirmationKeys"u8.ToArray();

    private readonly Spake2Group _group;
    private readonly byte[] _identityA;
    private readonly byte[] _identityB;
    private readonly byte[] _share;
    private byte[] _w;
    private byte[] _secret;
    private byte[] _k = [];
    private byte[] _transcript = [];
    private byte[] _ke = [];
    private byte[] _ka = [];
    private byte[] _kcA = [];
    private byte[] _kcB = [];
    private byte[] _confirmation = [];
    private byte[] _expectedPeerConfirmation = [];
    private State _state;

    private Spake2(Spake2Suite suite, Spake2Role role, Spake2Group group, byte[] w, byte[] secret,
        ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> identityB)
    {
        Suite = suite;
        Role = role;
        _group = group;
        _w = w;
        _secret = secret;
        _identityA = identityA.ToArray();
        _identityB = identityB.ToArray();
        _share = group.ComputeShare(secret, w, useM: role == Spake2Role.Alice);
        _state = State.ShareSent;
    }

    private enum State
    {
        ShareSent,
        SharesExchanged,
        Confirmed,
        Failed,
        Disposed,
    }

    /// <summary>The suite in use.</summary>
    public Spake2Suite Suite { get; }

    /// <summary>This party's role.</summary>
    public Spake2Role Role { get; }

    /// <summary>This party's share: pA for Alice, pB for Bob (32-byte point for edwards25519, 65-byte uncompressed SEC1 for P-256).</summary>
    public ReadOnlySpan<byte> PublicShare => _share;

    /// <summary>This party's key-confirmation MAC (cA or cB, the hash's length); empty until <see cref="TryProcessPeerShare"/> succeeded.</summary>
    public ReadOnlySpan<byte> Confirmation => _confirmation;

    /// <summary>True once the peer's confirmation verified.</summary>
    public bool IsConfirmed => _state == State.Confirmed;

    // Test view (vectors): the values of the exchange before Dispose zeroes them.
    internal ReadOnlySpan<byte> W => _w;

    internal ReadOnlySpan<byte> SharedElement => _k;

    internal ReadOnlySpan<byte> Transcript => _transcript;

    internal ReadOnlySpan<byte> Ke => _ke;

    internal ReadOnlySpan<byte> Ka => _ka;

    internal ReadOnlySpan<byte> KcA => _kcA;

    internal ReadOnlySpan<byte> KcB => _kcB;

    /// <summary>The secret scalar x (Alice) or y (Bob); zeroed (empty) once K has been computed.</summary>
    internal ReadOnlySpan<byte> SecretScalar => _secret;

    /// <summary>
    /// Starts an exchange.
    /// </summary>
    /// <param name="suite">The ciphersuite.</param>
    /// <param name="role">Alice or Bob.</param>
    /// <param name="password">pw: the password bytes; w = Hash(pw) mod p as the suite's profile defines (see docs/spake2.md;
    /// for OSP use <see cref="PasswordFromPsk"/>).</param>
    /// <param name="identityA">A's identity (may be empty).</param>
    /// <param name="identityB">B's identity (may be empty).</param>
    /// <param name="random">Source of the secret scalar (a CSPRNG; tests pass a seeded one).</param>
    public static Spake2 Create(Spake2Suite suite, Spake2Role role, ReadOnlySpan<byte> password,
        ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> identityB, RandomNumberGenerator random)
    {
        ArgumentNullException.ThrowIfNull(random);
        CheckRole(role);
        var group = Spake2Group.For(suite);
        return new Spake2(suite, role, group, group.HashPassword(password), group.RandomScalar(random), identityA, identityB);
    }

    /// <summary>Test vectors: an exchange from a password and a fixed secret scalar (canonical, non-zero).</summary>
    internal static Spake2 CreateWithScalar(Spake2Suite suite, Spake2Role role, ReadOnlySpan<byte> password,
        ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> identityB, ReadOnlySpan<byte> secretScalar)
    {
        var group = Spake2Group.For(suite);
        return CreateWithW(suite, role, group.HashPassword(password), identityA, identityB, secretScalar);
    }

    /// <summary>Test vectors (RFC 9382 Appendix B gives w, not pw): an exchange from w and a fixed secret scalar.</summary>
    internal static Spake2 CreateWithW(Spake2Suite suite, Spake2Role role, ReadOnlySpan<byte> w,
        ReadOnlySpan<byte> identityA, ReadOnlySpan<byte> identityB, ReadOnlySpan<byte> secretScalar)
    {
        CheckRole(role);
        var group = Spake2Group.For(suite);
        if (!group.IsCanonicalScalar(w))
            throw new CryptoException(CryptoError.Malformed, "w is not a canonical scalar of the suite");
        if (!group.IsCanonicalScalar(secretScalar) || secretScalar.IndexOfAnyExcept((byte)0) < 0)
            throw new CryptoException(CryptoError.Malformed, "the secret scalar is not a canonical non-zero scalar of the suite");
        return new Spake2(suite, role, group, w.ToArray(), secretScalar.ToArray(), identityA, identityB);
    }

    /// <summary>
    /// OSP's pw for a PSK: the ASCII decimal digits of the integer P, canonical (no grouping dashes, no leading zeros,
    /// "0" for zero). Both the numeric PIN and the QR (hex) encoding of the same P give the same pw.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="psk"/> is negative.</exception>
    public static byte[] PasswordFromPsk(BigInteger psk)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(psk);
        return Encoding.ASCII.GetBytes(psk.ToString("D", CultureInfo.InvariantCulture));
    }

    /// <summary>Takes the peer's share, computes K, the transcript and the keys. False (and no state change) on an invalid share.</summary>
    public bool TryProcessPeerShare(ReadOnlySpan<byte> peerShare, out Spake2Error error)
    {
        if (!IsIn(State.ShareSent, out error)) return false;
        bool alice = Role == Spake2Role.Alice;
        if (!_group.TryComputeSharedElement(_secret, _w, peerShare, peerUsesM: !alice, out var k))
        {
            error = Spake2Error.InvalidShare;
            return false;
        }

        // x (or y) has done its one job: zero it so it can never be used again.
        CryptographicOperations.ZeroMemory(_secret);
        _secret = [];
        _k = k;
        var pA = alice ? _share : peerShare;
        var pB = alice ? peerShare : _share;
        _transcript = BuildTranscript(_identityA, _identityB, pA, pB, _k, _w);

        // Hash(TT) = Ke || Ka; KcA || KcB = HKDF(ikm = Ka, salt = nil, info = "ConfirmationKeys" || AAD (empty)).
        Span<byte> hash = stackalloc byte[2 * HalfHash];
        SHA256.HashData(_transcript, hash);
        _ke = hash[..HalfHash].ToArray();
        _ka = hash[HalfHash..].ToArray();
        CryptographicOperations.ZeroMemory(hash);
        Span<byte> kc = stackalloc byte[2 * HalfHash];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _ka, kc, salt: [], info: ConfirmationKeysInfo);
        _kcA = kc[..HalfHash].ToArray();
        _kcB = kc[HalfHash..].ToArray();
        CryptographicOperations.ZeroMemory(kc);

        var cA = HMACSHA256.HashData(_kcA, _transcript);
        var cB = HMACSHA256.HashData(_kcB, _transcript);
        _confirmation = alice ? cA : cB;
        _expectedPeerConfirmation = alice ? cB : cA;
        _state = State.SharesExchanged;
        error = Spake2Error.None;
        return true;
    }

    /// <summary>Verifies the peer's confirmation MAC in constant time.</summary>
    /// <remarks>A mismatch is final: the exchange is failed, its secrets are zeroed and no key can be exported.</remarks>
    public bool TryVerifyPeerConfirmation(ReadOnlySpan<byte> peerConfirmation, out Spake2Error error)
    {
        if (!IsIn(State.SharesExchanged, out error)) return false;
        // FixedTimeEquals is constant time for equal lengths; the length itself is public (32 for both suites).
        return Conclude(peerConfirmation.Length == MacSize && CryptographicOperations.FixedTimeEquals(peerConfirmation, _expectedPeerConfirmation), out error);
    }

    /// <summary>
    /// This party's confirmation as OSP's 64-byte <c>auth-spake2-confirmation</c> field: the MAC, then 32 zero bytes.
    /// Take it before verifying the peer's confirmation: a failed verification zeroes it with the other secrets.
    /// </summary>
    /// <exception cref="CryptoException">The peer's share has not been processed yet.</exception>
    public byte[] GetOspConfirmationField()
    {
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
        if (_confirmation.Length == 0)
            throw new CryptoException(CryptoError.InvalidState, "SPAKE2: no confirmation before the peer's share was processed");
        var field = new byte[OspConfirmationFieldSize];
        _confirmation.CopyTo(field, 0);
        return field;
    }

    /// <summary>
    /// Verifies OSP's 64-byte <c>auth-spake2-confirmation</c> field: exactly 64 bytes, the first 32 the peer's MAC
    /// (constant-time compare) and the last 32 zero. Any deviation is <see cref="Spake2Error.ConfirmationMismatch"/>.
    /// </summary>
    public bool TryVerifyPeerOspConfirmationField(ReadOnlySpan<byte> field, out Spake2Error error)
    {
        if (!IsIn(State.SharesExchanged, out error)) return false;
        if (field.Length != OspConfirmationFieldSize) return Conclude(matched: false, out error);
        int padding = 0;
        foreach (byte b in field[MacSize..]) padding |= b;
        bool macOk = CryptographicOperations.FixedTimeEquals(field[..MacSize], _expectedPeerConfirmation);
        return Conclude(macOk & padding == 0, out error);
    }

    /// <summary>The shared key Ke (half of Hash(TT)); only after <see cref="IsConfirmed"/>.</summary>
    /// <exception cref="CryptoException">The peer's confirmation has not verified.</exception>
    public byte[] ExportSharedKey()
    {
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
        if (_state != State.Confirmed)
            throw new CryptoException(CryptoError.InvalidState, "SPAKE2: the shared key is released only after the peer's confirmation verified");
        return (byte[])_ke.Clone();
    }

    /// <summary>Zeroes x/y, w, K, TT and the keys.</summary>
    public void Dispose()
    {
        if (_state == State.Disposed) return;
        ZeroSecrets();
        _state = State.Disposed;
    }

    /// <summary>TT = len(A)‖A‖len(B)‖B‖len(pA)‖pA‖len(pB)‖pB‖len(K)‖K‖len(w)‖w, lengths 8-byte little-endian (RFC 9382 §3.3).</summary>
    internal static byte[] BuildTranscript(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> pA,
        ReadOnlySpan<byte> pB, ReadOnlySpan<byte> k, ReadOnlySpan<byte> w)
    {
        var tt = new byte[(6 * 8) + a.Length + b.Length + pA.Length + pB.Length + k.Length + w.Length];
        int at = 0;
        Append(tt, ref at, a);
        Append(tt, ref at, b);
        Append(tt, ref at, pA);
        Append(tt, ref at, pB);
        Append(tt, ref at, k);
        Append(tt, ref at, w);
        return tt;

        static void Append(byte[] tt, ref int at, ReadOnlySpan<byte> value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(tt.AsSpan(at), (ulong)value.Length);
            at += 8;
            value.CopyTo(tt.AsSpan(at));
            at += value.Length;
        }
    }

    private static void CheckRole(Spake2Role role)
    {
        if (role is not (Spake2Role.Alice or Spake2Role.Bob))
            throw new CryptoException(CryptoError.InternalError, $"unknown SPAKE2 role {role}");
    }

    /// <summary>
    /// Whether the exchange is in <paramref name="expected"/> (else <see cref="Spake2Error.InvalidState"/>, no state
    /// change); a disposed exchange throws.
    /// </summary>
    private bool IsIn(State expected, out Spake2Error error)
    {
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
        error = _state == expected ? Spake2Error.None : Spake2Error.InvalidState;
        return error == Spake2Error.None;
    }

    /// <summary>
    /// The end of a confirmation check: confirmed, or — a mismatch is final — failed with every secret zeroed
    /// (<see cref="Spake2Error.ConfirmationMismatch"/>).
    /// </summary>
    private bool Conclude(bool matched, out Spake2Error error)
    {
        if (!matched)
        {
            Fail();
            error = Spake2Error.ConfirmationMismatch;
            return false;
        }
        _state = State.Confirmed;
        error = Spake2Error.None;
        return true;
    }

    private void Fail()
    {
        ZeroSecrets();
        _state = State.Failed;
    }

    private void ZeroSecrets()
    {
        foreach (var secret in new[] { _w, _secret, _k, _transcript, _ke, _ka, _kcA, _kcB, _confirmation, _expectedPeerConfirmation })
            CryptographicOperations.ZeroMemory(secret);
        _w = [];
        _secret = [];
        _k = [];
        _transcript = [];
        _ke = [];
        _ka = [];
        _kcA = [];
        _kcB = [];
        _confirmation = [];
        _expectedPeerConfirmation = [];
    }
}
