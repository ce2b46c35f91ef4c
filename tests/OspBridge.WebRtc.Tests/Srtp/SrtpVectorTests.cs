using System.Security.Cryptography;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Srtp;

namespace OspBridge.WebRtc.Tests.Srtp;

/// <summary>
/// SRTP/SRTCP against published vectors: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation), the
/// libsrtp srtp_validate reference packets (AES_CM_128_HMAC_SHA1_80, master key/salt of B.3), and RFC 7714 §16/§17
/// (AEAD_AES_128_GCM / AEAD_AES_256_GCM, session keys given directly).
/// </summary>
public class SrtpVectorTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(string.Concat(s.Where(c => !char.IsWhiteSpace(c))));

    [Fact]
    public void Rfc3711_B2_aes_cm_keystream_start_and_end_of_segment()
    {
        using var aes = Aes.Create();
        aes.Key = Hex("2B7E151628AED2A6ABF7158809CF4F3C");
        var iv = new byte[16];
        SrtpContext.CmIv(iv, Hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), 0, 0);
        Assert.Equal(Hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"), iv);
        var ks = new byte[1044512];
        AesCounterMode.Keystream(aes, iv, ks);
        Assert.Equal(Hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0"), ks[..48]);
        Assert.Equal(Hex("EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44"), ks[^48..]);
    }

    [Fact]
    public void Rfc3711_B3_key_derivation()
    {
        var key = Hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        var salt = Hex("0EC675AD498AFEEBB6960B3AABE6");
        var k = new byte[16];
        SrtpKeyDerivation.Derive(key, salt, SrtpKeyDerivation.RtpEncryption, k);
        Assert.Equal(Hex("C61E7A93744F39EE10734AFE3FF7A087"), k);
        var s = new byte[14];
        SrtpKeyDerivation.Derive(key, salt, SrtpKeyDerivation.RtpSalt, s);
        Assert.Equal(Hex("30CBBC08863D8C85D49DB34A9AE1"), s);
        var a = new byte[94];
        SrtpKeyDerivation.Derive(key, salt, SrtpKeyDerivation.RtpAuthentication, a);
        Assert.Equal(Hex(
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE E049646C43D9327AD175578EF7227098" +
            "6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"), a);
    }

    private static SrtpContext LibSrtpValidateContext() =>
        new(SrtpProtectionProfile.Aes128CmHmacSha1_80, Hex("E1F97A0D3E018BE0D64FA32C06DE4139"), Hex("0EC675AD498AFEEBB6960B3AABE6"));

    [Fact]
    public void Libsrtp_validate_rtp_and_rtcp_reference_packets()
    {
        var plain = Hex("800f1234decafbadcafebabe abababababababababababababababab");
        var expected = Hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb");
        using var tx = LibSrtpValidateContext();
        var buf = new byte[100];
        plain.CopyTo(buf, 0);
        Assert.True(tx.TryProtectRtp(buf, plain.Length, out int n));
        Assert.Equal(expected, buf[..n]);

        using var rx = LibSrtpValidateContext();
        var wire = (byte[])expected.Clone();
        Assert.True(rx.TryUnprotectRtp(wire, out int m));
        Assert.Equal(plain, wire[..m]);
        wire = (byte[])expected.Clone();
        Assert.False(rx.TryUnprotectRtp(wire, out _)); // replay
        Assert.Equal(1, rx.ReplaysRejected);
        wire = (byte[])expected.Clone();
        wire[14] ^= 1;
        using var rx2 = LibSrtpValidateContext();
        Assert.False(rx2.TryUnprotectRtp(wire, out _)); // forged
        Assert.Equal(1, rx2.AuthenticationFailures);

        // SRTCP: libsrtp sends its first SRTCP packet with index 1.
        var rtcp = Hex("81c8000bcafebabe abababababababababababababababab");
        var rtcpExpected = Hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798");
        tx.SetNextRtcpIndex(0xcafebabe, 1);
        rtcp.CopyTo(buf, 0);
        Assert.True(tx.TryProtectRtcp(buf, rtcp.Length, out n));
        Assert.Equal(rtcpExpected, buf[..n]);
        wire = (byte[])rtcpExpected.Clone();
        Assert.True(rx.TryUnprotectRtcp(wire, out m));
        Assert.Equal(rtcp, wire[..m]);
        wire = (byte[])rtcpExpected.Clone();
        Assert.False(rx.TryUnprotectRtcp(wire, out _));
    }

    private static readonly byte[] GcmSalt = Hex("517569642070726f2071756f"); // "Quid pro quo"
    private static readonly byte[] Rtp7714 = Hex("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573");
    private static readonly byte[] Rtcp7714 = Hex("81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef");

    private static SrtpContext Gcm(bool aes256)
    {
        var key = aes256 ? Hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f") : Hex("000102030405060708090a0b0c0d0e0f");
        return SrtpContext.FromSessionKeys(aes256 ? SrtpProtectionProfile.AeadAes256Gcm : SrtpProtectionProfile.AeadAes128Gcm,
            new SrtpContext.SessionKeys(key, GcmSalt, [], key, GcmSalt, []));
    }

    [Theory]
    [InlineData(false, "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce")]
    [InlineData(true, "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13")]
    public void Rfc7714_16_rtp_encrypt_and_decrypt(bool aes256, string expectedHex)
    {
        var expected = Hex(expectedHex);
        using var tx = Gcm(aes256);
        var buf = new byte[128];
        Rtp7714.CopyTo(buf, 0);
        Assert.True(tx.TryProtectRtp(buf, Rtp7714.Length, out int n));
        Assert.Equal(expected, buf[..n]);
        using var rx = Gcm(aes256);
        var wire = (byte[])expected.Clone();
        Assert.True(rx.TryUnprotectRtp(wire, out int m));
        Assert.Equal(Rtp7714, wire[..m]);
        wire = (byte[])expected.Clone();
        wire[^1] ^= 0x80;
        using var rx2 = Gcm(aes256);
        Assert.False(rx2.TryUnprotectRtp(wire, out _));
        Assert.Equal(1, rx2.AuthenticationFailures);
    }

    [Theory]
    [InlineData(false, true, "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4")]
    [InlineData(true, true, "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4")]
    [InlineData(false, false, "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4")]
    [InlineData(true, false, "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393 ed2615fe 000005d4")]
    public void Rfc7714_17_srtcp_encrypted_and_tag_only(bool aes256, bool encrypt, string expectedHex)
    {
        var expected = Hex(expectedHex);
        using var tx = Gcm(aes256);
        tx.SetNextRtcpIndex(0x4d617273, 0x5d4);
        var buf = new byte[128];
        Rtcp7714.CopyTo(buf, 0);
        Assert.True(tx.TryProtectRtcp(buf, Rtcp7714.Length, encrypt, out int n));
        Assert.Equal(expected, buf[..n]);
        using var rx = Gcm(aes256);
        var wire = (byte[])expected.Clone();
        Assert.True(rx.TryUnprotectRtcp(wire, out int m));
        Assert.Equal(Rtcp7714, wire[..m]);
    }

    [Fact]
    public void Roc_estimation_follows_rfc3711_appendix_a_across_a_wrap()
    {
        Assert.Equal(0u, SrtpContext.EstimateRoc(0, 100, 200));
        Assert.Equal(1u, SrtpContext.EstimateRoc(0, 65500, 10)); // wrapped forward
        Assert.Equal(0u, SrtpContext.EstimateRoc(1, 10, 65500)); // late packet from before the wrap
        // End to end: 70 000 packets through a wrap, with a late pre-wrap packet after it.
        foreach (var profile in new[] { SrtpProtectionProfile.Aes128CmHmacSha1_80, SrtpProtectionProfile.AeadAes128Gcm })
        {
            var key = new byte[16];
            var salt = new byte[profile == SrtpProtectionProfile.AeadAes128Gcm ? 12 : 14];
            RandomNumberGenerator.Fill(key);
            using var tx = new SrtpContext(profile, key, salt);
            using var rx = new SrtpContext(profile, key, salt);
            var buf = new byte[64];
            byte[]? late = null;
            for (int i = 0; i < 70_000; i++)
            {
                ushort seq = (ushort)(65000 + i);
                var h = new OspBridge.WebRtc.Rtp.RtpHeader { PayloadType = 96, SequenceNumber = seq, Ssrc = 42, Timestamp = (uint)i };
                Assert.True(h.TryWrite(buf, out int hl));
                buf[hl] = (byte)i;
                Assert.True(tx.TryProtectRtp(buf, hl + 1, out int n));
                if (seq == 65530)
                {
                    late = buf[..n];
                    continue; // delivered later
                }
                var wire = buf[..n];
                Assert.True(rx.TryUnprotectRtp(wire, out int m), $"packet {i}");
                Assert.Equal((byte)i, wire[m - 1]);
                if (seq == 20)
                {
                    Assert.True(rx.TryUnprotectRtp(late!, out _)); // reordered across the wrap, still authenticates
                }
            }
            Assert.Equal(2u, rx.RolloverCounter(42)); // 65000 + 70000 crosses 65536 and 131072
            Assert.Equal(0, rx.AuthenticationFailures);
        }
    }

    [Fact]
    public void Keying_from_dtls_exporter_material_both_profiles_round_trip()
    {
        foreach (var profile in new[] { SrtpProtectionProfile.Aes128CmHmacSha1_80, SrtpProtectionProfile.AeadAes128Gcm })
        {
            var (k, s) = SrtpKeyingMaterial.Lengths(profile);
            static byte[] R(int n) => RandomNumberGenerator.GetBytes(n);
            var a = new SrtpKeyingMaterial(profile, R(k), R(s), R(k), R(s));
            var b = new SrtpKeyingMaterial(profile, a.RemoteMasterKey, a.RemoteMasterSalt, a.LocalMasterKey, a.LocalMasterSalt);
            var (aOut, aIn) = SrtpContext.Create(a);
            var (bOut, bIn) = SrtpContext.Create(b);
            using (aOut)
            using (aIn)
            using (bOut)
            using (bIn)
            {
                var buf = new byte[200];
                var h = new OspBridge.WebRtc.Rtp.RtpHeader { PayloadType = 111, SequenceNumber = 1, Ssrc = 5 };
                h.TryWrite(buf, out int hl);
                Assert.True(aOut.TryProtectRtp(buf, hl + 50, out int n));
                Assert.True(bIn.TryUnprotectRtp(buf.AsSpan(0, n), out _));
                Assert.False(aIn.TryUnprotectRtp(buf.AsSpan(0, n), out _)); // other direction's keys
            }
        }
    }
}
