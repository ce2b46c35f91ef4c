using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.Crypto;

/// <summary>TLS 1.3 HKDF-Expand-Label and Derive-Secret (RFC 8446 §7.1), shared by TLS 1.3, QUIC (RFC 9001 §5) and DTLS tooling.</summary>
public static class HkdfLabel
{
    /// <summary>Largest label this helper accepts (RFC 8446 allows 255 including the "tls13 " prefix).</summary>
    public const int MaxLabelLength = 249;

    /// <summary>HKDF-Expand-Label(secret, label, context, length) with the "tls13 " prefix added here.</summary>
    public static void ExpandLabel(HashAlgorithmName hash, ReadOnlySpan<byte> secret, string label, ReadOnlySpan<byte> context, Span<byte> output)
    {
        if (label.Length > MaxLabelLength || context.Length > 255 || output.Length > ushort.MaxValue)
            throw new CryptoException(CryptoError.LimitExceeded, "HKDF label, context or output too long");
        Span<byte> info = stackalloc byte[2 + 1 + 6 + MaxLabelLength + 1 + 255];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)output.Length);
        info[2] = (byte)(6 + label.Length);
        "tls13 "u8.CopyTo(info[3..]);
        for (int i = 0; i < label.Length; i++) info[9 + i] = (byte)label[i];
        int p = 9 + label.Length;
        info[p++] = (byte)context.Length;
        context.CopyTo(info[p..]);
        p += context.Length;
        HKDF.Expand(hash, secret, output, info[..p]);
    }

    /// <summary>Convenience overload returning a new array.</summary>
    public static byte[] ExpandLabel(HashAlgorithmName hash, ReadOnlySpan<byte> secret, string label, ReadOnlySpan<byte> context, int length)
    {
        var output = new byte[length];
        ExpandLabel(hash, secret, label, context, output);
        return output;
    }
}
