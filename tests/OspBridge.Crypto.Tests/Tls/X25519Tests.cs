using OspBridge.Crypto;
using OspBridge.Crypto.Tls;

namespace OspBridge.Crypto.Tests.Tls;

public class X25519Tests
{
    private static byte[] H(string s) => Convert.FromHexString(s);
    private static string X(byte[] b) => Convert.ToHexStringLower(b);

    [Fact]
    public void Native_libsodium_resolves_from_the_package_not_the_system()
    {
        // The libsodium NuGet package (runtimes/<rid>/native) is pinned at 1.0.22; Debian's system library is 1.0.18.
        Assert.Equal("1.0.22", X25519.NativeVersion);
    }

    [Theory] // RFC 7748 §5.2
    [InlineData("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")]
    [InlineData("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")]
    public void Rfc7748_scalar_multiplication_vectors(string k, string u, string expected) =>
        Assert.Equal(expected, X(X25519.ScalarMult(H(k), H(u))));

    [Fact]
    public void Rfc7748_iterated_1_and_1000()
    {
        byte[] k = new byte[32], u = new byte[32];
        k[0] = 9;
        u[0] = 9;
        for (int i = 1; i <= 1000; i++)
        {
            byte[] r = X25519.ScalarMult(k, u);
            u = k;
            k = r;
            if (i == 1) Assert.Equal("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", X(k));
        }
        Assert.Equal("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", X(k));
    }

    [Fact]
    public void Rfc7748_diffie_hellman()
    {
        byte[] a = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        byte[] b = H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        byte[] nine = new byte[32];
        nine[0] = 9;
        byte[] ap = X25519.ScalarMult(a, nine), bp = X25519.ScalarMult(b, nine);
        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", X(ap));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", X(bp));
        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", X(X25519.Agree(a, bp)));
        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", X(X25519.Agree(b, ap)));
    }

    [Fact]
    public void Random_key_pairs_agree_and_zero_points_are_refused()
    {
        for (int i = 0; i < 20; i++)
        {
            var (ap, aP) = X25519.GenerateKeyPair();
            var (bp, bP) = X25519.GenerateKeyPair();
            Assert.Equal(X25519.Agree(ap, bP), X25519.Agree(bp, aP));
        }
        var e = Assert.Throws<CryptoException>(() => X25519.Agree(X25519.GenerateKeyPair().Private, new byte[32]));
        Assert.Equal(47, e.Alert);
        // u = 1 has order 4 → zero shared secret after clamping
        byte[] one = new byte[32];
        one[0] = 1;
        Assert.Throws<CryptoException>(() => X25519.Agree(X25519.GenerateKeyPair().Private, one));
    }

    [Fact]
    public void Non_canonical_u_and_high_bit_are_handled_like_rfc7748()
    {
        // u = p + 9 (non-canonical encoding of 9) with the top bit set: the top bit is masked, then reduced mod p.
        byte[] u = H("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f".Replace("f6", "f6"));
        // 2^255 - 19 + 9 = 2^255 - 10 → little-endian: f6 ff .. ff 7f
        byte[] k = H("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
        byte[] nine = new byte[32];
        nine[0] = 9;
        Assert.Equal(X(X25519.ScalarMult(k, nine)), X(X25519.ScalarMult(k, u)));
        byte[] uHigh = (byte[])nine.Clone();
        uHigh[31] |= 0x80;
        Assert.Equal(X(X25519.ScalarMult(k, nine)), X(X25519.ScalarMult(k, uHigh)));
    }
}
