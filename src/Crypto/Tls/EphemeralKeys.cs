using System.Security.Cryptography;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// Randomness of the TLS 1.3 and DTLS 1.2 engines from an injectable <see cref="RandomNumberGenerator"/> (their
/// options' <c>Random</c>): hello randoms, cookie secrets and ephemeral (EC)DHE private keys are all drawn from it,
/// so a seeded generator makes a handshake's first flight reproducible. ECDSA signatures are the exception: the
/// BCL draws their nonces itself (they appear only in later flights).
/// </summary>
internal static class EphemeralKeys
{
    /// <summary>The default: the operating system's CSPRNG (thread-safe).</summary>
    public static readonly RandomNumberGenerator SystemRandom = RandomNumberGenerator.Create();

    // The order n of P-256, big-endian.
    private static readonly byte[] P256Order = Convert.FromHexString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

    /// <summary>
    /// An ECDH P-256 key whose private scalar d is drawn from <paramref name="random"/> by rejection sampling
    /// (uniform in [1, n)); the BCL derives the public point from d.
    /// </summary>
    public static ECDiffieHellman CreateP256(RandomNumberGenerator random)
    {
        var d = new byte[32];
        try
        {
            for (int attempt = 0; attempt < 64; attempt++)
            {
                random.GetBytes(d);
                if (d.AsSpan().IndexOfAnyExcept((byte)0) < 0 || d.AsSpan().SequenceCompareTo(P256Order) >= 0) continue;
                var key = ECDiffieHellman.Create();
                try
                {
                    key.ImportParameters(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = d });
                    return key;
                }
                catch
                {
                    key.Dispose();
                    throw;
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(d);
        }
        throw new CryptoException(CryptoError.InternalError, "the random number generator gave no valid P-256 scalar in 64 draws");
    }

    /// <summary>The 65-byte uncompressed SEC1 encoding of an ECDH P-256 key's public point.</summary>
    public static byte[] UncompressedPublic(ECDiffieHellman key)
    {
        var p = key.ExportParameters(false);
        var pub = new byte[65];
        pub[0] = 4;
        p.Q.X!.CopyTo(pub, 1 + 32 - p.Q.X.Length);
        p.Q.Y!.CopyTo(pub, 33 + 32 - p.Q.Y.Length);
        return pub;
    }
}
