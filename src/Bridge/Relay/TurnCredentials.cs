using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// Stateless per-session TURN credentials (the "TURN REST API" idea, draft-uberti-behave-turn-rest): the bridge mints
/// <c>username = "&lt;expiry s&gt;;&lt;relay address&gt;;&lt;random&gt;"</c> and <c>password = base64url(HMAC-SHA256(secret,
/// username))[..24]</c>; the relay recomputes the password from the username, so it stores nothing per credential
/// and junk usernames cost nothing. Expiry is in seconds of the relay's monotonic clock (the same clock the core's
/// <c>now</c> comes from). The relay address inside the username (signed with it) is the bridge's own address on the
/// device's subnet: the relayed transport address the allocation gets.
/// </summary>
internal static class TurnCredentials
{
    /// <summary>The realm the relay announces.</summary>
    public const string Realm = "ospbridge";

    /// <summary>Longest username accepted (keeps the HMAC and the parse bounded).</summary>
    public const int MaxUsernameLength = 128;

    /// <summary>Mints a username/password pair valid until <paramref name="expiresAt"/> for an allocation on <paramref name="relayAddress"/>.</summary>
    public static (string Username, string Password) Mint(ReadOnlySpan<byte> secret, IPAddress relayAddress, TimeSpan expiresAt)
    {
        Span<byte> r = stackalloc byte[9];
        RandomNumberGenerator.Fill(r);
        string user = string.Create(CultureInfo.InvariantCulture, $"{(long)Math.Ceiling(expiresAt.TotalSeconds)};{relayAddress};{Convert.ToBase64String(r).Replace('+', '-').Replace('/', '_')}");
        return (user, Password(secret, user));
    }

    /// <summary>The password of <paramref name="username"/>.</summary>
    public static string Password(ReadOnlySpan<byte> secret, string username)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(username), mac);
        return Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_')[..24];
    }

    /// <summary>
    /// Checks a username's shape and expiry and returns its relay address and long-term key
    /// (MD5(username ":" realm ":" password), RFC 8489 §9.2.2). False for anything malformed or expired.
    /// </summary>
    public static bool TryValidate(ReadOnlySpan<byte> secret, string? username, TimeSpan now, out IPAddress? relayAddress, out TimeSpan expiresAt, out byte[]? key)
    {
        relayAddress = null;
        key = null;
        expiresAt = default;
        if (username is null || username.Length > MaxUsernameLength) return false;
        var parts = username.Split(';');
        if (parts.Length != 3) return false;
        if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long exp) || exp > 100L * 365 * 86400) return false;
        expiresAt = TimeSpan.FromSeconds(exp);
        if (expiresAt <= now) return false;
        if (!IPAddress.TryParse(parts[1], out relayAddress)) return false;
        key = LongTermKey(username, Realm, Password(secret, username));
        return true;
    }

    /// <summary>MD5(username ":" realm ":" password) (RFC 8489 §9.2.2; passwords here are ASCII, so SASLprep is the identity).</summary>
    public static byte[] LongTermKey(string username, string realm, string password)
    {
#pragma warning disable CA5351 // MD5 is what RFC 8489's long-term credential mechanism specifies for MESSAGE-INTEGRITY keys
        return MD5.HashData(Encoding.UTF8.GetBytes($"{username}:{realm}:{password}"));
#pragma warning restore CA5351
    }
}
