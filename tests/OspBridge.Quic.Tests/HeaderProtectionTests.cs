using System.Security.Cryptography;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Tests;

/// <summary>The AES-NI header-protection mask equals the BCL's AES-ECB (the reference) for AES-128 and AES-256 keys.</summary>
public class HeaderProtectionTests
{
    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void AesNi_mask_matches_BCL_AES_ECB_for_random_keys_and_samples(int keyLength)
    {
        Assert.True(AesNiHeaderProtection.IsSupported, "this machine's CPU has AES-NI; the fast path must be the one tested");
        var rng = new Random(keyLength);
        for (int k = 0; k < 50; k++)
        {
            var key = new byte[keyLength];
            rng.NextBytes(key);
            using var aes = Aes.Create();
            aes.Key = key;
            using var ni = new AesNiHeaderProtection(key);
            using var reference = new AesHeaderProtection(key);
            for (int i = 0; i < 20; i++)
            {
                var sample = new byte[16];
                rng.NextBytes(sample);
                var fast = new byte[5];
                var slow = new byte[5];
                ni.ComputeMask(sample, fast);
                reference.ComputeMask(sample, slow);
                var ecb = aes.EncryptEcb(sample, PaddingMode.None);
                Assert.Equal(ecb.AsSpan(0, 5).ToArray(), fast);
                Assert.Equal(slow, fast);
                // The scalar form used per packet: mask byte i in bits 8i..8i+7, nothing above byte 4.
                ulong expected = 0;
                for (int b = 4; b >= 0; b--) expected = (expected << 8) | ecb[b];
                Assert.Equal(expected, ni.Mask(sample));
                Assert.Equal(expected, reference.Mask(sample));
            }
        }
    }

    [Fact]
    public void Rfc9001_A2_client_Initial_header_protection_mask()
    {
        // RFC 9001 A.2: hp = 9f50449e04a0e810283a1e9933adedd2, sample = d1b1c98dd7689fb8ec11d242b123dc9b,
        // mask = AES-ECB(hp, sample) = 437b9aec36...
        using var ni = new AesNiHeaderProtection(Convert.FromHexString("9f50449e04a0e810283a1e9933adedd2"));
        Span<byte> mask = stackalloc byte[5];
        ni.ComputeMask(Convert.FromHexString("d1b1c98dd7689fb8ec11d242b123dc9b"), mask);
        Assert.Equal("437b9aec36", Convert.ToHexStringLower(mask));
        Assert.Equal(0x36ec9a7b43UL, ni.Mask(Convert.FromHexString("d1b1c98dd7689fb8ec11d242b123dc9b")));
    }

    [Fact]
    public void ChaCha_scalar_mask_matches_its_bytes()
    {
        // RFC 9001 A.5: hp = 25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4, sample = 5e5cd55c41f69080575d7999c25a5bfb,
        // mask = aefefe7d03.
        using var hp = HeaderProtection.Create(QuicCipherSuite.From(OspBridge.Crypto.Tls.Tls13CipherSuite.ChaCha20Poly1305Sha256),
            Convert.FromHexString("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"));
        var sample = Convert.FromHexString("5e5cd55c41f69080575d7999c25a5bfb");
        var mask = new byte[5];
        hp.ComputeMask(sample, mask);
        Assert.Equal("aefefe7d03", Convert.ToHexStringLower(mask));
        Assert.Equal(0x037dfefeaeUL, hp.Mask(sample));
    }
}
