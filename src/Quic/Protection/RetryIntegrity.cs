using System.Security.Cryptography;

namespace OspBridge.Quic.Protection;

/// <summary>
/// Retry integrity tag (RFC 9001 §5.8): AES-128-GCM with a fixed key/nonce over an empty plaintext, with the
/// Retry pseudo-packet (ODCID length, ODCID, Retry packet without tag) as associated data.
/// </summary>
internal static class RetryIntegrity
{
    private static ReadOnlySpan<byte> Key => [0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e];
    private static ReadOnlySpan<byte> Nonce => [0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb];

    /// <summary>Computes the 16-byte tag for <paramref name="retryWithoutTag"/>.</summary>
    public static void ComputeTag(ReadOnlySpan<byte> originalDcid, ReadOnlySpan<byte> retryWithoutTag, Span<byte> tag)
    {
        byte[] aad = new byte[1 + originalDcid.Length + retryWithoutTag.Length];
        aad[0] = (byte)originalDcid.Length;
        originalDcid.CopyTo(aad.AsSpan(1));
        retryWithoutTag.CopyTo(aad.AsSpan(1 + originalDcid.Length));
        using var gcm = new AesGcm(Key, 16);
        gcm.Encrypt(Nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag[..16], aad);
    }

    /// <summary>True when the last 16 bytes of <paramref name="retryPacket"/> are a valid tag.</summary>
    public static bool Verify(ReadOnlySpan<byte> originalDcid, ReadOnlySpan<byte> retryPacket)
    {
        if (retryPacket.Length < 16) return false;
        Span<byte> tag = stackalloc byte[16];
        ComputeTag(originalDcid, retryPacket[..^16], tag);
        return CryptographicOperations.FixedTimeEquals(tag, retryPacket[^16..]);
    }
}
