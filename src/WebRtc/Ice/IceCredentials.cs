using System.Security.Cryptography;

namespace OspBridge.WebRtc.Ice;

/// <summary>ICE username fragment and password (RFC 8839 §5.4: ice-chars = ALPHA / DIGIT / "+" / "/").</summary>
/// <param name="Ufrag">Username fragment, 4–256 ice-chars.</param>
/// <param name="Password">Password, 22–256 ice-chars.</param>
public sealed record IceCredentials(string Ufrag, string Password)
{
    private const string IceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// <summary>Fresh random credentials: 8-char ufrag (48 bits), 24-char password (144 bits, over the 128 RFC 8445 asks).</summary>
    public static IceCredentials Generate() => new(RandomString(8), RandomString(24));

    private static string RandomString(int n) => RandomNumberGenerator.GetString(IceChars, n);

    /// <summary>True when both fields use only ice-chars and have RFC 8839 lengths.</summary>
    public bool IsValid => Ufrag.Length is >= 4 and <= 256 && Password.Length is >= 22 and <= 256
        && Ufrag.All(c => IceChars.Contains(c, StringComparison.Ordinal)) && Password.All(c => IceChars.Contains(c, StringComparison.Ordinal));
}
