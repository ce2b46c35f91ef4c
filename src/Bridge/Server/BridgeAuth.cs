using Microsoft.AspNetCore.Http;

namespace OspBridge.Bridge.Server;

/// <summary>
/// Who may call the bridge: <c>Authorization: Bearer &lt;token&gt;</c> (the admin token or a browser token), the UI's
/// session cookie (an HttpOnly, SameSite=Strict browser token set by <c>POST /api/login</c>), or — only where a
/// browser cannot set headers — the token in the query: <c>?token=</c> on <c>/ws/</c> and SSE, and the PeerJS
/// <c>key</c> on <c>/peerjs</c>. Static UI files and <c>/api/login</c> are public; everything else answers 401.
/// </summary>
internal static class BridgeAuth
{
    /// <summary>The UI session cookie.</summary>
    public const string CookieName = "ospbridge_session";

    /// <summary>True for paths that need a credential.</summary>
    public static bool IsProtected(PathString path) =>
        path.StartsWithSegments("/api") && !path.Equals("/api/login", StringComparison.Ordinal)
        || path.StartsWithSegments("/devices") || path.StartsWithSegments("/ws") || path.StartsWithSegments("/peerjs")
        || path.StartsWithSegments("/whep") || path.StartsWithSegments("/whip");

    /// <summary>The credential presented, if any.</summary>
    public static string? Credential(HttpRequest request)
    {
        string auth = request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return auth[7..].Trim();
        if (request.Cookies.TryGetValue(CookieName, out string? cookie) && cookie.Length > 0) return cookie;
        if (request.Path.StartsWithSegments("/peerjs") && request.Query.TryGetValue("key", out var key)) return key.ToString();
        if (request.Path.StartsWithSegments("/peerjs") && request.Path.Value is { } p && p.EndsWith("/id", StringComparison.Ordinal))
        {
            // GET /peerjs/{key}/id
            var parts = p.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3) return parts[1];
        }
        if ((request.Path.StartsWithSegments("/ws") || request.Path.StartsWithSegments("/api/devices/events")) && request.Query.TryGetValue("token", out var token))
            return token.ToString();
        return null;
    }

    /// <summary>True when an Authorization header value is a valid bridge credential (not forwarded to devices).</summary>
    public static bool IsBridgeCredential(string authorization, BridgeTokens tokens) =>
        authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && tokens.IsValid(authorization[7..].Trim());

    /// <summary>A Cookie header without the bridge's session cookie (null when nothing is left).</summary>
    public static string? WithoutSessionCookie(string cookieHeader)
    {
        var kept = cookieHeader.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(c => !c.StartsWith(CookieName + "=", StringComparison.Ordinal)).ToList();
        return kept.Count == 0 ? null : string.Join("; ", kept);
    }

    /// <summary>Sets the session cookie.</summary>
    public static void SetCookie(HttpResponse response, string token, bool secure) =>
        response.Cookies.Append(CookieName, token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = secure,
            Path = "/",
            MaxAge = TimeSpan.FromDays(365),
        });
}
