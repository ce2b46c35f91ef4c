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
    }
}
