using System.Security.Cryptography;
using OspBridge.Crypto.Aead;

namespace OspBridge.Crypto.Tests;

/// <summary>
/// Gathered AES-GCM (a message encrypted or decrypted piece by piece, pieces read from other memory than they are
/// written to) gives the BCL's one-shot bytes and tag, and its decryption rejects every tampering.
/// </summary>
public class GatheredAesGcmTests
{
    private static AesGcmCipher Native(byte[] key)
    {
        if (!OpenSslAesGcm.IsSupported) Assert.Fail("libcrypto (OpenSSL) did not load: gathered AES-GCM cannot be tested");
        return AesGcmCipher.Create(key, native: true);
    }

    /// <summary>Random cut points (fixed seed) splitting <paramref name="length"/> into pieces, some empty.</summary>
    private static List<(int Start, int Length)> Cuts(Random rng, int length)
    {
        var points = new List<int> { 0, length };
        int n = rng.Next(0, 8);
        for (int i = 0; i < n; i++) points.Add(rng.Next(0, length + 1));
        points.Sort();
        var pieces = new List<(int, int)>();
        for (int i = 0; i + 1 < points.Count; i++) pieces.Add((points[i], points[i + 1] - points[i]));
        return pieces;
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void Pieces_from_elsewhere_encrypt_and_decrypt_like_the_one_shot_bcl(int keyLength)
    {
        var rng = new Random(1000 + keyLength);
        foreach (int size in new[] { 0, 1, 15, 16, 17, 100, 1452, 16000 })
        {
            for (int trial = 0; trial < 25; trial++)
            {
                var key = new byte[keyLength]; rng.NextBytes(key);
                var nonce = new byte[12]; rng.NextBytes(nonce);
                var aad = new byte[rng.Next(0, 40)]; rng.NextBytes(aad);
                var plain = new byte[size]; rng.NextBytes(plain);
                using var bcl = new AesGcm(key, 16);
                var expected = new byte[size]; var expectedTag = new byte[16];
                bcl.Encrypt(nonce, plain, expected, expectedTag, aad);

                using var ours = Native(key);
                Assert.True(ours.CanGather);
                var pieces = Cuts(rng, size);
                // Odd pieces are read from a separate "ring" (out of place), even ones are encrypted in place.
                var output = (byte[])plain.Clone();
                var ring = (byte[])plain.Clone();
                for (int i = 0; i < pieces.Count; i += 2) output.AsSpan(pieces[i].Start, pieces[i].Length).Clear(); // never read in place for out-of-place pieces
                ours.BeginEncrypt(nonce, aad);
                for (int i = 0; i < pieces.Count; i++)
                {
                    var (start, length) = pieces[i];
                    if (i % 2 == 0) ours.EncryptUpdate(ring.AsSpan(start, length), output.AsSpan(start, length));
                    else ours.EncryptUpdate(output.AsSpan(start, length), output.AsSpan(start, length));
                }
                var tag = new byte[16];
                ours.FinishEncrypt(tag);
                Assert.True(expected.AsSpan().SequenceEqual(output), $"ciphertext differs (size {size}, trial {trial}, {pieces.Count} pieces)");
                Assert.True(expectedTag.AsSpan().SequenceEqual(tag), $"tag differs (size {size}, trial {trial})");

                // Gathered decryption into a separate buffer, pieces cut differently.
                var back = new byte[size];
                ours.BeginDecrypt(nonce, aad, tag);
                foreach (var (start, length) in Cuts(rng, size)) ours.DecryptUpdate(output.AsSpan(start, length), back.AsSpan(start, length));
                Assert.True(ours.FinishDecrypt(), $"own ciphertext did not verify (size {size})");
                Assert.True(plain.AsSpan().SequenceEqual(back), $"plaintext differs (size {size})");

                // The one-shot calls still work on the same contexts afterwards.
                var again = (byte[])plain.Clone(); var tag2 = new byte[16];
                ours.Encrypt(nonce, again, again, tag2, aad);
                Assert.True(expected.AsSpan().SequenceEqual(again) && expectedTag.AsSpan().SequenceEqual(tag2), "one-shot after a gathered pass differs");
            }
        }
    }

    [Fact]
    public void Gathered_decryption_fails_for_any_flipped_bit_of_text_tag_or_aad()
    {
        var rng = new Random(77);
        var key = new byte[16]; rng.NextBytes(key);
        var nonce = new byte[12]; rng.NextBytes(nonce);
        var aad = new byte[24]; rng.NextBytes(aad);
        var plain = new byte[600]; rng.NextBytes(plain);
        using var ours = Native(key);
        var ct = (byte[])plain.Clone(); var tag = new byte[16];
        ours.Encrypt(nonce, ct, ct, tag, aad);
        for (int trial = 0; trial < 200; trial++)
        {
            var c = (byte[])ct.Clone(); var t = (byte[])tag.Clone(); var a = (byte[])aad.Clone();
            int which = trial % 3;
            var target = which == 0 ? c : which == 1 ? t : a;
            target[rng.Next(target.Length)] ^= (byte)(1 << rng.Next(8));
            var back = new byte[c.Length];
            ours.BeginDecrypt(nonce, a, t);
            foreach (var (start, length) in Cuts(rng, c.Length)) ours.DecryptUpdate(c.AsSpan(start, length), back.AsSpan(start, length));
            Assert.False(ours.FinishDecrypt(), $"tampered {(which == 0 ? "ciphertext" : which == 1 ? "tag" : "aad")} verified (trial {trial})");
        }
        // and the context still opens a good message afterwards
        var ok = new byte[ct.Length];
        ours.BeginDecrypt(nonce, aad, tag);
        ours.DecryptUpdate(ct, ok);
        Assert.True(ours.FinishDecrypt());
        Assert.True(plain.AsSpan().SequenceEqual(ok));
    }

    [Fact]
    public void The_bcl_fallback_says_it_cannot_gather()
    {
        var key = new byte[16];
        using var bcl = AesGcmCipher.Create(key, native: false);
        Assert.False(bcl.CanGather);
        Assert.Throws<NotSupportedException>(() => bcl.BeginEncrypt(new byte[12], default));
    }
}
