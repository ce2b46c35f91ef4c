using System.Security.Cryptography;
using OspBridge.Crypto;

namespace OspBridge.Quic.Protection;

/// <summary>Initial secrets (RFC 9001 §5.2): initial_secret = HKDF-Extract(v1 salt, client's first DCID).</summary>
internal static class InitialSecrets
{
    /// <summary>QUIC v1 initial salt.</summary>
    public static ReadOnlySpan<byte> V1Salt =>
    [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
        0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ];

    /// <summary>Derives the client and server initial secrets (32 bytes each).</summary>
    public static (byte[] Client, byte[] Server) Derive(ReadOnlySpan<byte> destinationConnectionId)
    {
        Span<byte> initial = stackalloc byte[32];
        HKDF.Extract(HashAlgorithmName.SHA256, destinationConnectionId, V1Salt, initial);
        var client = HkdfLabel.ExpandLabel(HashAlgorithmName.SHA256, initial, "client in", default, 32);
        var server = HkdfLabel.ExpandLabel(HashAlgorithmName.SHA256, initial, "server in", default, 32);
        CryptographicOperations.ZeroMemory(initial);
        return (client, server);
    }

    /// <summary>Creates the Initial packet keys for both directions; <paramref name="isClient"/> picks which is "write".</summary>
    public static (PacketKeys Read, PacketKeys Write) CreateKeys(ReadOnlySpan<byte> dcid, bool isClient)
    {
        var (c, s) = Derive(dcid);
        var ck = new PacketKeys(QuicCipherSuite.Initial, c);
        var sk = new PacketKeys(QuicCipherSuite.Initial, s);
        return isClient ? (sk, ck) : (ck, sk);
    }
}
