using System.Security.Cryptography;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.EC;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;
using Org.BouncyCastle.Utilities;
using BigInteger = Org.BouncyCastle.Math.BigInteger;

namespace OspBridge.Crypto.Spake2;

/// <summary>
/// P-256 for SPAKE2 (RFC 9382 suite P256-SHA256-HKDF-HMAC-SHA256: the suite of the RFC's Appendix B vectors and of
/// go-lp2p), arithmetic from BouncyCastle. Elements are 65-byte uncompressed SEC1 points (the RFC vectors' encoding);
/// scalars 32 bytes big-endian mod n. The cofactor is 1. BouncyCastle's big integers are immutable, so the scalars
/// they hold cannot be zeroed; this suite exists for interoperability and the RFC vectors, OSP uses edwards25519.
/// </summary>
internal sealed class P256Group : Spake2Group
{
    public static readonly P256Group Instance = new();

    private const int Size = 32;
    private const int PointSize = 1 + (2 * Size);

    private readonly X9ECParameters _parameters;
    private readonly BigInteger _order;
    private readonly BigInteger _prime;
    private readonly ECPoint _m;
    private readonly ECPoint _n;

    private P256Group()
    {
        _parameters = CustomNamedCurves.GetByName("P-256");
        _order = _parameters.N;
        _prime = _parameters.Curve.Field.Characteristic;
        // RFC 9382 §6 (seeds "1.2.840.10045.3.1.7 point generation seed (M)" / "(N)").
        _m = _parameters.Curve.DecodePoint(Convert.FromHexString("02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f"));
        _n = _parameters.Curve.DecodePoint(Convert.FromHexString("03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49"));
    }

    public override int ElementSize => PointSize;

    public override int ScalarSize => Size;

    /// <summary>w = SHA-512(pw) as a big-endian integer mod n, 32 bytes big-endian (RFC 9382 §3.2's encoding).</summary>
    public override byte[] HashPassword(ReadOnlySpan<byte> password)
    {
        var digest = SHA512.HashData(password);
        var w = new BigInteger(1, digest).Mod(_order);
        CryptographicOperations.ZeroMemory(digest);
        return BigIntegers.AsUnsignedByteArray(Size, w);
    }

    public override byte[] RandomScalar(RandomNumberGenerator random)
    {
        var wide = new byte[64];
        try
        {
            // 512 random bits reduced mod n: bias below 2^-256. A zero result is drawn again.
            for (int attempt = 0; attempt < 16; attempt++)
            {
                random.GetBytes(wide);
                var x = new BigInteger(1, wide).Mod(_order);
                if (x.SignValue != 0) return BigIntegers.AsUnsignedByteArray(Size, x);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(wide);
        }
        throw new CryptoException(CryptoError.InternalError, "the random number generator returned only zero scalars");
    }

    public override bool IsCanonicalScalar(ReadOnlySpan<byte> scalar) =>
        scalar.Length == Size && new BigInteger(1, scalar.ToArray()).CompareTo(_order) < 0;

    public override byte[] ComputeShare(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w, bool useM)
    {
        var x = new BigInteger(1, secretScalar.ToArray());
        var wb = new BigInteger(1, w.ToArray());
        var share = _parameters.G.Multiply(x).Add((useM ? _m : _n).Multiply(wb)).Normalize();
        if (share.IsInfinity) throw new CryptoException(CryptoError.InternalError, "P-256: the share is the point at infinity");
        return share.GetEncoded(false);
    }

    public override bool TryComputeSharedElement(ReadOnlySpan<byte> secretScalar, ReadOnlySpan<byte> w,
        ReadOnlySpan<byte> peerShare, bool peerUsesM, out byte[] k)
    {
        k = [];
        // Uncompressed SEC1 only (the wire format of this suite), both coordinates below the field prime.
        if (peerShare.Length != PointSize || peerShare[0] != 0x04) return false;
        if (new BigInteger(1, peerShare.Slice(1, Size).ToArray()).CompareTo(_prime) >= 0) return false;
        if (new BigInteger(1, peerShare.Slice(1 + Size, Size).ToArray()).CompareTo(_prime) >= 0) return false;
        ECPoint peer;
        try
        {
            // DecodePoint checks the curve equation (and, for the cofactor-1 curve, that is group membership).
            peer = _parameters.Curve.DecodePoint(peerShare.ToArray());
        }
        catch (ArgumentException)
        {
            return false;
        }
        if (peer.IsInfinity || !peer.IsValid()) return false;

        var x = new BigInteger(1, secretScalar.ToArray());
        var wb = new BigInteger(1, w.ToArray());
        // K = h·x·(peer − w·N) with h = 1.
        var result = peer.Subtract((peerUsesM ? _m : _n).Multiply(wb)).Multiply(x).Normalize();
        if (result.IsInfinity) return false;
        k = result.GetEncoded(false);
        return true;
    }
}
