using System.Security.Cryptography;
using OspBridge.Crypto.Aead;

namespace OspBridge.Crypto.Tests;

/// <summary>The direct libcrypto AES-GCM seam agrees with the BCL's AesGcm byte for byte and rejects every tampering.</summary>
public class OpenSslAesGcmTests
{
    [Fact]
    public void Libcrypto_is_found_on_this_platform()
    {
        Assert.True(!OperatingSystem.IsLinux() || OpenSslAesGcm.IsSupported, "libcrypto.so.3 (OpenSSL) should load on Linux: QUIC, SRTP and DTLS would fall back to the slower BCL path");
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void Seal_and_open_match_the_bcl_for_random_inputs(int keyLength)
    {
        if (!OpenSslAesGcm.IsSupported) Assert.Fail("libcrypto not available");
        var rng = new Random(keyLength);
        foreach (int size in new[] { 0, 1, 15, 16, 17, 1000, 1200, 1452, 4000 })
        {
            for (int trial = 0; trial < 20; trial++)
            {
                var key = new byte[keyLength]; rng.NextBytes(key);
                var nonce = new byte[12]; rng.NextBytes(nonce);
                var aad = new byte[rng.Next(0, 60)]; rng.NextBytes(aad);
                var plain = new byte[size]; rng.NextBytes(plain);
                using var bcl = new AesGcm(key, 16);
                using var ours = OpenSslAesGcm.TryCreate(key, ignoreEnvironment: true) ?? throw new InvalidOperationException("no libcrypto cipher");
                var expected = new byte[size]; var expectedTag = new byte[16];
                bcl.Encrypt(nonce, plain, expected, expectedTag, aad);
                // in place, as packet protection does
                var buf = (byte[])plain.Clone(); var tag = new byte[16];
                ours.Encrypt(nonce, buf, buf, tag, aad);
                Assert.True(expected.AsSpan().SequenceEqual(buf), $"ciphertext differs (size {size}, trial {trial})");
                Assert.True(expectedTag.AsSpan().SequenceEqual(tag), $"tag differs (size {size}, trial {trial})");
                Assert.True(ours.TryDecrypt(nonce, buf, tag, buf, aad), $"own ciphertext did not open (size {size})");
                Assert.True(plain.AsSpan().SequenceEqual(buf), $"plaintext differs after open (size {size})");
                // the same key object keeps working for the next packet in both directions (context reuse)
                var again = (byte[])plain.Clone(); var tag2 = new byte[16];
                ours.Encrypt(nonce, again, again, tag2, aad);
                Assert.True(expected.AsSpan().SequenceEqual(again) && expectedTag.AsSpan().SequenceEqual(tag2), "second seal with the same context differs");
            }
        }
    }

    [Fact]
    public void Any_flipped_bit_fails_to_open_and_leaves_no_plaintext()
    {
        if (!OpenSslAesGcm.IsSupported) Assert.Fail("libcrypto not available");
        var rng = new Random(7);
        var key = new byte[16]; rng.NextBytes(key);
        using var ours = OpenSslAesGcm.TryCreate(key, ignoreEnvironment: true)!;
        var nonce = new byte[12]; rng.NextBytes(nonce);
        var aad = new byte[20]; rng.NextBytes(aad);
        var plain = new byte[300]; rng.NextBytes(plain);
        var ct = (byte[])plain.Clone(); var tag = new byte[16];
        ours.Encrypt(nonce, ct, ct, tag, aad);
        for (int trial = 0; trial < 300; trial++)
        {
            var c = (byte[])ct.Clone(); var t = (byte[])tag.Clone(); var a = (byte[])aad.Clone(); var n = (byte[])nonce.Clone();
            switch (trial % 4)
            {
                case 0: c[rng.Next(c.Length)] ^= (byte)(1 << rng.Next(8)); break;
                case 1: t[rng.Next(t.Length)] ^= (byte)(1 << rng.Next(8)); break;
                case 2: a[rng.Next(a.Length)] ^= (byte)(1 << rng.Next(8)); break;
                default: n[rng.Next(n.Length)] ^= (byte)(1 << rng.Next(8)); break;
            }
            Assert.False(ours.TryDecrypt(n, c, t, c, a), $"tampered input opened (trial {trial})");
            Assert.True(c.AsSpan().IndexOfAnyExcept((byte)0) < 0, $"failed open left bytes in the output (trial {trial})");
            // a failure does not poison the context: the genuine packet still opens
            var good = (byte[])ct.Clone();
            Assert.True(ours.TryDecrypt(nonce, good, tag, good, aad), $"genuine packet refused after a failure (trial {trial})");
            Assert.True(plain.AsSpan().SequenceEqual(good));
        }
    }

    /// <summary>Dispose zeroes the key: use afterwards must throw, not encrypt under an all-zero key.</summary>
    [Fact]
    public void Use_after_dispose_throws()
    {
        if (!OpenSslAesGcm.IsSupported) Assert.Fail("libcrypto not available");
        var ours = OpenSslAesGcm.TryCreate(new byte[16] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, ignoreEnvironment: true)!;
        var buf = new byte[32];
        var tag = new byte[16];
        ours.Encrypt(new byte[12], buf, buf, tag, default);
        ours.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ours.Encrypt(new byte[12], buf, buf, tag, default));
        Assert.Throws<ObjectDisposedException>(() => ours.TryDecrypt(new byte[12], buf, tag, buf, default));
    }
    /// <summary>The public seam on both implementations: same bytes as the BCL, tampering refused with zeroed output, separate output buffer.</summary>
    [Theory]
    [InlineData(true, 16)]
    [InlineData(true, 32)]
    [InlineData(false, 16)]
    [InlineData(false, 32)]
    public void AesGcmCipher_matches_the_bcl_and_refuses_tampering_on_either_implementation(bool native, int keyLength)
    {
        if (native && !OpenSslAesGcm.IsSupported) Assert.Fail("libcrypto not available");
        var rng = new Random(100 + keyLength + (native ? 1 : 0));
        foreach (int size in new[] { 0, 1, 16, 160, 1200 })
        {
            var key = new byte[keyLength]; rng.NextBytes(key);
            var nonce = new byte[12]; rng.NextBytes(nonce);
            var aad = new byte[12]; rng.NextBytes(aad);
            var plain = new byte[size]; rng.NextBytes(plain);
            using var bcl = new AesGcm(key, 16);
            using var cipher = AesGcmCipher.Create(key, native);
            Assert.Equal(native, cipher.IsNative);
            var expected = new byte[size]; var expectedTag = new byte[16];
            bcl.Encrypt(nonce, plain, expected, expectedTag, aad);
            var ct = new byte[size + 8]; var tag = new byte[16]; // a longer output buffer: only the first size bytes are written
            cipher.Encrypt(nonce, plain, ct, tag, aad);
            Assert.True(expected.AsSpan().SequenceEqual(ct.AsSpan(0, size)) && expectedTag.AsSpan().SequenceEqual(tag), $"bytes differ from the BCL (native {native}, size {size})");
            var back = new byte[size];
            Assert.True(cipher.TryDecrypt(nonce, ct.AsSpan(0, size), tag, back, aad), $"own ciphertext did not open (native {native}, size {size})");
            Assert.True(plain.AsSpan().SequenceEqual(back));
            tag[rng.Next(16)] ^= 1;
            var spoiled = new byte[size]; spoiled.AsSpan().Fill(0xAA);
            Assert.False(cipher.TryDecrypt(nonce, ct.AsSpan(0, size), tag, spoiled, aad), $"bad tag opened (native {native}, size {size})");
            Assert.True(spoiled.AsSpan().IndexOfAnyExcept((byte)0) < 0, $"failed open left bytes in the output (native {native}, size {size})");
        }
        Assert.Throws<ArgumentException>(() => new AesGcmCipher(new byte[24]));
    }
}
