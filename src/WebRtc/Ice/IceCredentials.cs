using System.Security.Cryptography;

namespace OspBridge.WebRtc.Ice;

/// <summary>ICE username fragment and password (RFC 8839 §5.4: ice-chars = ALPHA / DIGIT / "+" / "/").</summary>
/// <param name="Ufrag">Username fragment, 4–256 ice-chars.</param>
/// <param name="Password">Password, 22–256 ice-chars.</param>
public sealed record IceCredentials(string Ufrag, string Password)
{
    private const string IceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// <summary>Fresh random credentials: 8-char ufrag (48 bits), 24-char password (144 bits, over the 128 RFC 8445 asks).</summary>
    public static IceCredentials Generate() => new(RandomNumberGenerator.GetString(IceChars, 8), RandomNumberGenerator.GetString(IceChars, 24));

    /// <summary>Fresh credentials drawn from <paramref name="random"/> (a seeded generator in tests).</summary>
    public static IceCredentials Generate(RandomNumberGenerator random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return new(RandomString(random, 8), RandomString(random, 24));
    }

    private static string RandomString(RandomNumberGenerator random, int n)
    {
        // 64 ice-chars: the low 6 bits of a uniform byte are uniform.
        Span<byte> b = stackalloc byte[n];
        random.GetBytes(b);
        return string.Create(n, b.ToArray(), static (dst, src) => { for (int i = 0; i < dst.Length; i++) dst[i] = IceChars[src[i] & 63]; });
    }

    /// <summary>True when both fields use only ice-chars and have RFC 8839 lengths.</summary>
    public bool IsValid => Ufrag.Length is >= 4 and <= 256 && Password.Length is >= 22 and <= 256
        && Ufrag.All(c => IceChars.Contains(c, StringComparison.Ordinal)) && Password.All(c => IceChars.Contains(c, StringComparison.Ordinal));
}
