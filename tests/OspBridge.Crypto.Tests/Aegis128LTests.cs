using System.Runtime.InteropServices;
using OspBridge.Crypto.Aead;

namespace OspBridge.Crypto.Tests;

/// <summary>
/// AEGIS-128L: the test vectors of RFC 10032 (draft-irtf-cfrg-aegis-aead, §"AEGIS-128L Test Vectors", 128-bit tags),
/// the incremental form against the one-shot for arbitrary piece boundaries, in-place operation, tampering, and the
/// ciphertext against an independent implementation (libsodium's crypto_aead_aegis128l, whose 256-bit tag differs
/// but whose ciphertext does not depend on the tag length).
/// </summary>
public sealed class Aegis128LTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static TheoryData<string, string, string, string, string, string> Vectors => new()
    {
        // key, nonce, ad, msg, ct, tag128
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "", "00000000000000000000000000000000",
            "c1c0e58bd913006feba00f4b3cc3594e", "abe0ece80c24868a226a35d16bdae37a" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "", "", "", "c2b879a67def9d74e6c14f708bbcc9b4" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "0001020304050607",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "79d94593d8c2119d7e8fd9b8fc77845c5c077a05b2528b6ac54b563aed8efe84", "cc6f3372f6aa1bb82388d695c3962d9a" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "0001020304050607",
            "000102030405060708090a0b0c0d", "79d94593d8c2119d7e8fd9b8fc77", "5c04b3dba849b2701effbe32c7f0fab7" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829",
            "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
            "b31052ad1cca4e291abcf2df3502e6bdb1bfd6db36798be3607b1f94d34478aa7ede7f7a990fec10", "7542a745733014f9474417b337399507" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Rfc10032_vectors_encrypt_and_decrypt(string key, string nonce, string ad, string msg, string ct, string tag)
    {
        Assert.True(Aegis128L.IsSupported, "this machine's CPU has AES-NI; AEGIS-128L must be available");
        using var c = new Aegis128L(H(key));
        var outCt = new byte[msg.Length / 2];
        var outTag = new byte[16];
        c.Encrypt(H(nonce), H(msg), outCt, outTag, H(ad));
        Assert.Equal(ct, Convert.ToHexStringLower(outCt));
        Assert.Equal(tag, Convert.ToHexStringLower(outTag));
        var back = new byte[outCt.Length];
        Assert.True(c.TryDecrypt(H(nonce), outCt, outTag, back, H(ad)));
        Assert.Equal(msg, Convert.ToHexStringLower(back));
    }

    public static TheoryData<string, string, string, string, string> MustFail => new()
    {
        // RFC 10032 AEGIS-128L test vectors 6..9: key, nonce, ad, ct, tag128 — each MUST fail verification
        { "10000200000000000000000000000000", "10010000000000000000000000000000", "0001020304050607", "79d94593d8c2119d7e8fd9b8fc77", "5c04b3dba849b2701effbe32c7f0fab7" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "0001020304050607", "79d94593d8c2119d7e8fd9b8fc78", "5c04b3dba849b2701effbe32c7f0fab7" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "0001020304050608", "79d94593d8c2119d7e8fd9b8fc77", "5c04b3dba849b2701effbe32c7f0fab7" },
        { "10010000000000000000000000000000", "10000200000000000000000000000000", "0001020304050607", "79d94593d8c2119d7e8fd9b8fc77", "6c04b3dba849b2701effbe32c7f0fab8" },
    };

    [Theory]
    [MemberData(nameof(MustFail))]
    public void Rfc10032_verification_failures_fail_and_zero_the_output(string key, string nonce, string ad, string ct, string tag)
    {
        using var c = new Aegis128L(H(key));
        var output = new byte[ct.Length / 2];
        Array.Fill(output, (byte)0xAA);
        Assert.False(c.TryDecrypt(H(nonce), H(ct), H(tag), output, H(ad)));
        Assert.All(output, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Incremental_pieces_of_any_length_give_the_one_shot_bytes_both_ways()
    {
        var rng = new Random(1507);
        for (int round = 0; round < 300; round++)
        {
            var key = new byte[16]; rng.NextBytes(key);
            var nonce = new byte[16]; rng.NextBytes(nonce);
            var ad = new byte[rng.Next(0, 80)]; rng.NextBytes(ad);
            var msg = new byte[rng.Next(0, 3000)]; rng.NextBytes(msg);
            using var c = new Aegis128L(key);
            var ct = new byte[msg.Length];
            var tag = new byte[16];
            c.Encrypt(nonce, msg, ct, tag, ad);

            var ct2 = new byte[msg.Length];
            var tag2 = new byte[16];
            c.BeginEncrypt(nonce, ad);
            foreach (var (at, n) in Pieces(rng, msg.Length)) c.EncryptUpdate(msg.AsSpan(at, n), ct2.AsSpan(at, n));
            c.FinishEncrypt(tag2);
            Assert.Equal(ct, ct2);
            Assert.Equal(tag, tag2);

            var pt = new byte[msg.Length];
            c.BeginDecrypt(nonce, ad, tag);
            foreach (var (at, n) in Pieces(rng, msg.Length)) c.DecryptUpdate(ct.AsSpan(at, n), pt.AsSpan(at, n));
            Assert.True(c.FinishDecrypt());
            Assert.Equal(msg, pt);
        }
    }

    [Fact]
    public void In_place_encryption_and_decryption_round_trip()
    {
        var rng = new Random(7);
        var key = new byte[16]; rng.NextBytes(key);
        var nonce = new byte[16]; rng.NextBytes(nonce);
        var msg = new byte[16384 + 13]; rng.NextBytes(msg);
        using var c = new Aegis128L(key);
        var expected = new byte[msg.Length];
        var tag = new byte[16];
        c.Encrypt(nonce, msg, expected, tag, "hdr"u8);
        var buffer = (byte[])msg.Clone();
        var tag2 = new byte[16];
        c.Encrypt(nonce, buffer, buffer, tag2, "hdr"u8);
        Assert.Equal(expected, buffer);
        Assert.Equal(tag, tag2);
        Assert.True(c.TryDecrypt(nonce, buffer, tag, buffer, "hdr"u8));
        Assert.Equal(msg, buffer);
    }

    [Fact]
    public void Any_flipped_bit_of_ciphertext_tag_or_associated_data_fails()
    {
        var rng = new Random(99);
        var key = new byte[16]; rng.NextBytes(key);
        var nonce = new byte[16]; rng.NextBytes(nonce);
        var ad = new byte[21]; rng.NextBytes(ad);
        var msg = new byte[77]; rng.NextBytes(msg);
        using var c = new Aegis128L(key);
        var ct = new byte[msg.Length];
        var tag = new byte[16];
        c.Encrypt(nonce, msg, ct, tag, ad);
        var sink = new byte[msg.Length];
        for (int bit = 0; bit < ct.Length * 8; bit += 7)
        {
            ct[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(c.TryDecrypt(nonce, ct, tag, sink, ad));
            ct[bit / 8] ^= (byte)(1 << (bit % 8));
        }
        for (int bit = 0; bit < 128; bit++)
        {
            tag[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(c.TryDecrypt(nonce, ct, tag, sink, ad));
            tag[bit / 8] ^= (byte)(1 << (bit % 8));
        }
        for (int bit = 0; bit < ad.Length * 8; bit += 5)
        {
            ad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(c.TryDecrypt(nonce, ct, tag, sink, ad));
            ad[bit / 8] ^= (byte)(1 << (bit % 8));
        }
        nonce[15] ^= 1;
        Assert.False(c.TryDecrypt(nonce, ct, tag, sink, ad));
        nonce[15] ^= 1;
        Assert.False(c.TryDecrypt(nonce, ct, tag, sink, ad.AsSpan(1)));
        Assert.True(c.TryDecrypt(nonce, ct, tag, sink, ad));
        Assert.Equal(msg, sink);
    }

    [Fact]
    public void Ciphertext_matches_libsodium_aegis128l()
    {
        Assert.True(sodium_init() >= 0, "libsodium failed to initialize");
        Assert.True(crypto_aead_aegis128l_abytes() == 32, "libsodium's AEGIS-128L is expected to carry 256-bit tags");
        var rng = new Random(2026);
        for (int round = 0; round < 200; round++)
        {
            var key = new byte[16]; rng.NextBytes(key);
            var nonce = new byte[16]; rng.NextBytes(nonce);
            var ad = new byte[rng.Next(0, 100)]; rng.NextBytes(ad);
            var msg = new byte[rng.Next(0, 5000)]; rng.NextBytes(msg);
            var sodiumCt = new byte[msg.Length];
            var sodiumTag = new byte[32];
            Assert.Equal(0, crypto_aead_aegis128l_encrypt_detached(sodiumCt, sodiumTag, out _, msg, (ulong)msg.Length, ad, (ulong)ad.Length, IntPtr.Zero, nonce, key));
            using var c = new Aegis128L(key);
            var ct = new byte[msg.Length];
            c.Encrypt(nonce, msg, ct, new byte[16], ad);
            Assert.Equal(sodiumCt, ct);
        }
    }

    [Fact]
    public void Misuse_is_an_error_value_not_silent()
    {
        using var c = new Aegis128L(new byte[16]);
        Assert.Throws<ArgumentException>(() => new Aegis128L(new byte[15]));
        Assert.Throws<ArgumentException>(() => c.BeginEncrypt(new byte[12], default));
        Assert.Throws<CryptoException>(() => c.EncryptUpdate(new byte[3], new byte[3]));
        Assert.Throws<CryptoException>(() => c.FinishDecrypt());
        c.BeginEncrypt(new byte[16], default);
        Assert.Throws<CryptoException>(() => c.DecryptUpdate(new byte[3], new byte[3]));
    }

    private static IEnumerable<(int At, int Length)> Pieces(Random rng, int total)
    {
        int at = 0;
        while (at < total)
        {
            int n = rng.Next(4) switch { 0 => rng.Next(1, 4), 1 => rng.Next(1, 40), 2 => 32 * rng.Next(1, 5), _ => rng.Next(1, 700) };
            n = Math.Min(n, total - at);
            yield return (at, n);
            at += n;
        }
        if (rng.Next(3) == 0) yield return (total, 0); // an empty update changes nothing
    }

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    private static extern int sodium_init();

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    private static extern nuint crypto_aead_aegis128l_abytes();

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    private static extern int crypto_aead_aegis128l_encrypt_detached(byte[] c, byte[] mac, out ulong maclen, byte[] m, ulong mlen, byte[] ad, ulong adlen, IntPtr nsec, byte[] npub, byte[] k);
}
