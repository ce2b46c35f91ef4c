using OspBridge.Crypto.Tls;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Tests;

/// <summary>
/// TLS_AEGIS_128L_SHA256 in QUIC packet protection (RFC 10032 "QUIC Header Protection"; RFC 9001 §5 key derivation with
/// a 16-byte "quic iv"): the header-protection mask against RFC 10032's AEGIS-128L test vector 2, and a golden
/// short-header packet built like RFC 9001 A.5 (same secret, header and payload) — golden bytes from this implementation
/// (no independent AEGIS QUIC is installed here; its AEAD is checked against RFC 10032 and libsodium in the Crypto tier),
/// pinned so the wire format documented in docs/quic.md cannot drift.
/// </summary>
public sealed class AegisPacketProtectionTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex);
    private static string X(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);

    [Fact]
    public void Header_protection_mask_is_the_AEGIS_tag_of_the_sample()
    {
        // RFC 10032 AEGIS-128L test vector 2: key 1001..., nonce 1000 02..., empty ad and message → tag c2b879a67d...
        using var hp = new AegisHeaderProtection(H("10010000000000000000000000000000"));
        Span<byte> mask = stackalloc byte[5];
        hp.ComputeMask(H("10000200000000000000000000000000"), mask);
        Assert.Equal("c2b879a67d", X(mask));
    }

    [Fact]
    public void Golden_short_header_packet_protects_and_opens()
    {
        var secret = H("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b"); // RFC 9001 A.5
        using var keys = new PacketKeys(QuicCipherSuite.From(Tls13CipherSuite.Aegis128LSha256), secret);
        Assert.Equal(16, keys.Key.Length);
        Assert.Equal(16, keys.Iv.Length);
        Assert.Equal(16, keys.HpKey.Length);
        Assert.Equal(KeyHex, X(keys.Key));
        Assert.Equal(IvHex, X(keys.Iv));
        Assert.Equal(HpHex, X(keys.HpKey));
        Assert.Equal(PacketHex, Rfc9001VectorTests.ProtectAndOpenA5Packet(keys));
    }

    [Fact]
    public void A_flipped_bit_anywhere_in_the_protected_payload_or_tag_fails_to_open()
    {
        var secret = H("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
        using var keys = new PacketKeys(QuicCipherSuite.From(Tls13CipherSuite.Aegis128LSha256), secret);
        var rng = new Random(1307);
        var plain = new byte[4 + 300 + 16];
        H("4200bff4").CopyTo(plain, 0);
        rng.NextBytes(plain.AsSpan(4, 300));
        var packet = (byte[])plain.Clone();
        int n = PacketProtector.Protect(keys, packet, 1, 3, 77, 300);
        Assert.True(PacketProtector.TryRemoveHeaderProtection(keys.HeaderProtection, packet, 1, out _, out _));
        for (int bit = 4 * 8; bit < n * 8; bit += 13)
        {
            var copy = packet.AsSpan(0, n).ToArray();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(PacketProtector.TryDecrypt(keys, copy, 1, 3, 77, out _, out _));
        }
        Assert.True(PacketProtector.TryDecrypt(keys, packet, 1, 3, 77, out int off, out int len));
        Assert.Equal(plain.AsSpan(4, 300).ToArray(), packet.AsSpan(off, len).ToArray());
    }

    private const string KeyHex = "9fb6e916b1f4c52251f01dc6677600b8";
    private const string IvHex = "4fb37126424f1ff5235288c9663cb362";
    private const string HpHex = "0784f37dea97f0a09f48a46e08a0c8a7";
    private const string PacketHex = "590e48d86e708cf2bb9b4c406d4fbae07f52b73611";
}
