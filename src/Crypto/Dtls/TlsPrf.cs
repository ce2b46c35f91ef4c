using System.Security.Cryptography;

namespace OspBridge.Crypto.Dtls;

/// <summary>
/// The TLS 1.2 pseudo-random function (RFC 5246 §5): PRF(secret, label, seed) = P_hash(secret, label + seed), with
/// P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ..., A(0) = seed,
/// A(i) = HMAC(secret, A(i-1)). The hash is the cipher suite's (SHA-256 for 0xC02B, SHA-384 for 0xC02C).
/// </summary>
public static class TlsPrf
{
    /// <summary>Largest label + seed accepted (keeps the work buffer on the stack).</summary>
    public const int MaxLabelAndSeed = 512;

    /// <summary>Fills <paramref name="output"/> with PRF(secret, label, seed) using the given hash (SHA-256 or SHA-384).</summary>
    public static void Compute(HashAlgorithmName hash, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> seed, Span<byte> output)
    {
        int hlen = hash == HashAlgorithmName.SHA384 ? 48 : hash == HashAlgorithmName.SHA256 ? 32
            : throw new CryptoException(CryptoError.InternalError, "TLS PRF: unsupported hash " + hash.Name);
        if (label.Length + seed.Length > MaxLabelAndSeed)
            throw new CryptoException(CryptoError.LimitExceeded, "TLS PRF: label + seed too long");
        // buffer = A(i) || label || seed; A(0) = label || seed is computed in place.
        Span<byte> work = stackalloc byte[48 + MaxLabelAndSeed];
        Span<byte> ls = work.Slice(hlen, label.Length + seed.Length);
        label.CopyTo(ls);
        seed.CopyTo(ls[label.Length..]);
        Span<byte> a = work[..hlen];
        Span<byte> block = stackalloc byte[48];
        Mac(hash, secret, ls, a); // A(1)
        int written = 0;
        while (written < output.Length)
        {
            Mac(hash, secret, work[..(hlen + ls.Length)], block[..hlen]); // HMAC(A(i) || label || seed)
            int n = Math.Min(hlen, output.Length - written);
            block[..n].CopyTo(output[written..]);
            written += n;
            if (written < output.Length) Mac(hash, secret, a, a); // A(i+1) = HMAC(A(i))
        }
        CryptographicOperations.ZeroMemory(work);
        CryptographicOperations.ZeroMemory(block);
    }

    /// <summary>Convenience overload with an ASCII label, returning a new array.</summary>
    public static byte[] Compute(HashAlgorithmName hash, ReadOnlySpan<byte> secret, string label, ReadOnlySpan<byte> seed, int length)
    {
        var output = new byte[length];
        Span<byte> l = stackalloc byte[Math.Min(label.Length, MaxLabelAndSeed + 1)];
        if (label.Length > MaxLabelAndSeed) throw new CryptoException(CryptoError.LimitExceeded, "TLS PRF: label too long");
        for (int i = 0; i < label.Length; i++) l[i] = (byte)label[i];
        Compute(hash, secret, l, seed, output);
        return output;
    }

    private static void Mac(HashAlgorithmName hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> dest)
    {
        // HMAC.HashData allows source and destination to overlap only via a temporary; copy to be safe.
        Span<byte> tmp = stackalloc byte[48];
        int n = hash == HashAlgorithmName.SHA384 ? HMACSHA384.HashData(key, data, tmp) : HMACSHA256.HashData(key, data, tmp);
        tmp[..n].CopyTo(dest);
    }
}
