using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.Quic.Core;

/// <summary>
/// Stateless Retry tokens (RFC 9000 §8.1.2): <c>issued-at (8, ticks of the monotonic clock) | ODCID length (1) |
/// ODCID | HMAC-SHA256(key, client address | issued-at | ODCID)[0..16]</c>. Valid for <see cref="Lifetime"/>.
/// </summary>
internal sealed class RetryTokens
{
    private readonly byte[] _key;

    /// <summary>Creates a token issuer with a fresh key from <paramref name="random"/>.</summary>
    public RetryTokens(RandomNumberGenerator random)
    {
        _key = ConnectionCore.RandomBytes(random, 32);
    }

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromSeconds(10);

    public byte[] Issue(ReadOnlySpan<byte> clientAddress, ReadOnlySpan<byte> originalDcid, TimeSpan now)
    {
        var token = new byte[8 + 1 + originalDcid.Length + 16];
        BinaryPrimitives.WriteInt64BigEndian(token, now.Ticks);
        token[8] = (byte)originalDcid.Length;
        originalDcid.CopyTo(token.AsSpan(9));
        Mac(clientAddress, token.AsSpan(0, 9 + originalDcid.Length), token.AsSpan(9 + originalDcid.Length));
        return token;
    }

    /// <summary>Validates a token; on success returns the original DCID it carries.</summary>
    public bool TryValidate(ReadOnlySpan<byte> token, ReadOnlySpan<byte> clientAddress, TimeSpan now, out byte[] originalDcid)
    {
        originalDcid = [];
        if (token.Length < 9 + 16) return false;
        int len = token[8];
        if (len > 20 || token.Length != 9 + len + 16) return false;
        var issued = TimeSpan.FromTicks(BinaryPrimitives.ReadInt64BigEndian(token));
        if (now < issued || now - issued > Lifetime) return false;
        Span<byte> mac = stackalloc byte[16];
        Mac(clientAddress, token[..(9 + len)], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, token[(9 + len)..])) return false;
        originalDcid = token.Slice(9, len).ToArray();
        return true;
    }

    private void Mac(ReadOnlySpan<byte> address, ReadOnlySpan<byte> body, Span<byte> dest)
    {
        using var h = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        h.AppendData(address);
        h.AppendData(body);
        Span<byte> full = stackalloc byte[32];
        h.GetHashAndReset(full);
        full[..16].CopyTo(dest);
    }
}
