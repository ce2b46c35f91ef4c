using System.Security.Cryptography;

namespace OspBridge.Crypto.Tls;

/// <summary>Our ephemeral key for one named group (x25519 or secp256r1), RFC 8446 §4.2.8.</summary>
internal sealed class KeyShare : IDisposable
{
    private readonly ECDiffieHellman? _ecdh;
    private readonly byte[]? _x25519Private;

    private KeyShare(ushort group, byte[] publicKey, ECDiffieHellman? ecdh, byte[]? x25519Private)
    {
        Group = group;
        Public = publicKey;
        _ecdh = ecdh;
        _x25519Private = x25519Private;
    }

    public ushort Group { get; }
    public byte[] Public { get; }

    public static bool IsSupported(ushort group) => group is NamedGroup.X25519 or NamedGroup.Secp256r1;

    /// <summary>A fresh key pair for <paramref name="group"/>, its private key drawn from <paramref name="random"/>.</summary>
    public static KeyShare Create(ushort group, RandomNumberGenerator random)
    {
        switch (group)
        {
            case NamedGroup.X25519:
            {
                var (priv, pub) = X25519.GenerateKeyPair(random);
                return new KeyShare(group, pub, null, priv);
            }
            case NamedGroup.Secp256r1:
            {
                var key = EphemeralKeys.CreateP256(random);
                return new KeyShare(group, EphemeralKeys.UncompressedPublic(key), key, null);
            }
            default:
                throw new CryptoException(CryptoError.InternalError, $"group 0x{group:x4} not supported", TlsAlert.InternalError);
        }
    }

    /// <summary>The (EC)DHE shared secret; illegal_parameter for an invalid peer share.</summary>
    public byte[] Agree(ReadOnlySpan<byte> peer)
    {
        if (_x25519Private is not null)
        {
            if (peer.Length != X25519.KeySize) throw TlsAlert.Illegal("x25519 key share must be 32 bytes");
            return X25519.Agree(_x25519Private, peer);
        }
        if (peer.Length != 65 || peer[0] != 4) throw TlsAlert.Illegal("P-256 key share must be a 65-byte uncompressed point");
        try
        {
            var p = new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = peer.Slice(1, 32).ToArray(), Y = peer.Slice(33, 32).ToArray() },
            };
            using var peerKey = ECDiffieHellman.Create(p);
            return _ecdh!.DeriveRawSecretAgreement(peerKey.PublicKey);
        }
        catch (CryptographicException e)
        {
            throw new CryptoException(CryptoError.Malformed, "invalid P-256 key share", TlsAlert.IllegalParameter, e);
        }
    }

    public void Dispose()
    {
        _ecdh?.Dispose();
        if (_x25519Private is not null) CryptographicOperations.ZeroMemory(_x25519Private);
    }
}
