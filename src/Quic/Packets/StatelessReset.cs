using System.Security.Cryptography;

namespace OspBridge.Quic.Packets;

/// <summary>
/// Stateless reset (RFC 9000 §10.3): <c>0 1 x x x x x x | Unpredictable Bits (38..) | Stateless Reset Token (128)</c>.
/// Tokens are HMAC-SHA256(static key, connection ID) truncated to 16 bytes (§10.3.2).
/// </summary>
internal static class StatelessReset
{
    public const int MinLength = 21;

    public static void ComputeToken(ReadOnlySpan<byte> staticKey, ReadOnlySpan<byte> connectionId, Span<byte> token)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(staticKey, connectionId, mac);
        mac[..16].CopyTo(token);
    }

    /// <summary>Writes a stateless reset of <paramref name="length"/> bytes (≥ 21) ending in <paramref name="token"/>.</summary>
    public static int Write(Span<byte> dest, int length, ReadOnlySpan<byte> token, RandomNumberGenerator random)
    {
        if (length < MinLength || dest.Length < length) return 0;
        random.GetBytes(dest[..(length - 16)]);
        dest[0] = (byte)(0x40 | (dest[0] & 0x3f));
        token.CopyTo(dest[(length - 16)..]);
        return length;
    }
}
