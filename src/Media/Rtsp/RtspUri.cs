using System.Globalization;

namespace OspBridge.Media.Rtsp;

/// <summary>An <c>rtsp://[user:pass@]host[:port]/path</c> URI split into the request URI and the credentials.</summary>
/// <param name="Host">Host name or address (IPv6 without brackets).</param>
/// <param name="Port">TCP port (554 by default).</param>
/// <param name="PathAndQuery">Path and query, starting with '/'.</param>
/// <param name="UserName">User name (percent-decoded), or null.</param>
/// <param name="Password">Password (percent-decoded), or null.</param>
public sealed record RtspUri(string Host, int Port, string PathAndQuery, string? UserName, string? Password)
{
    /// <summary>
    /// The transport asked for in the URI's query (<c>?transport=udp</c> or <c>tcp</c>; our parameter, removed from
    /// <see cref="PathAndQuery"/> so the camera never sees it), or null when the URI does not say.
    /// </summary>
    public RtspTransport? Transport { get; init; }

    /// <summary>
    /// False when the URI says <c>?backchannel=0</c> (our parameter, removed like <c>transport</c>): the client then never
    /// asks for the ONVIF back channel (no <c>Require: www.onvif.org/ver20/backchannel</c>). True by default.
    /// </summary>
    public bool BackChannel { get; init; } = true;

    /// <summary>The URI used in requests: no credentials.</summary>
    public string RequestUri => string.Create(CultureInfo.InvariantCulture, $"rtsp://{(Host.Contains(':', StringComparison.Ordinal) ? "[" + Host + "]" : Host)}:{Port}{PathAndQuery}");

    /// <summary>Parses <paramref name="uri"/>; throws <see cref="MediaException"/> (UnsupportedSource) if it is not rtsp://.</summary>
    public static RtspUri Parse(string uri)
    {
        if (!System.Uri.TryCreate(uri, UriKind.Absolute, out var u) || !string.Equals(u.Scheme, "rtsp", StringComparison.OrdinalIgnoreCase) || u.Host.Length == 0)
            throw new MediaException(MediaError.UnsupportedSource, $"not an rtsp:// URI: {Redact(uri)}");
        string? user = null, password = null;
        if (u.UserInfo.Length > 0)
        {
            int colon = u.UserInfo.IndexOf(':', StringComparison.Ordinal);
            user = System.Uri.UnescapeDataString(colon < 0 ? u.UserInfo : u.UserInfo[..colon]);
            password = colon < 0 ? "" : System.Uri.UnescapeDataString(u.UserInfo[(colon + 1)..]);
        }
        string host = u.Host.Trim('[', ']');
        string path = u.AbsolutePath;
        RtspTransport? transport = null;
        bool backChannel = true;
        var kept = new List<string>();
        foreach (string pair in u.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            if (pair.StartsWith("transport=", StringComparison.OrdinalIgnoreCase))
            {
                string value = pair["transport=".Length..];
                transport = value.ToUpperInvariant() switch
                {
                    "UDP" => RtspTransport.Udp,
                    "TCP" => RtspTransport.Tcp,
                    _ => throw new MediaException(MediaError.UnsupportedSource, $"transport={value} in {Redact(uri)}: use udp or tcp"),
                };
                continue;
            }
            if (pair.StartsWith("backchannel=", StringComparison.OrdinalIgnoreCase))
            {
                string value = pair["backchannel=".Length..];
                backChannel = value.ToUpperInvariant() switch
                {
                    "1" or "TRUE" => true,
                    "0" or "FALSE" => false,
                    _ => throw new MediaException(MediaError.UnsupportedSource, $"backchannel={value} in {Redact(uri)}: use 0 or 1"),
                };
                continue;
            }
            kept.Add(pair);
        }
        if (kept.Count > 0)
            path += "?" + string.Join('&', kept);
        return new RtspUri(host, u.IsDefaultPort || u.Port <= 0 ? 554 : u.Port, path, user, password) { Transport = transport, BackChannel = backChannel };
    }

    /// <summary>The URI with any password replaced by "***" (for logs).</summary>
    public static string Redact(string uri)
    {
        int scheme = uri.IndexOf("://", StringComparison.Ordinal);
        int at = uri.IndexOf('@', StringComparison.Ordinal);
        if (scheme < 0 || at < scheme)
            return uri;
        int colon = uri.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? string.Concat(uri.AsSpan(0, colon + 1), "***", uri.AsSpan(at)) : uri;
    }

    /// <inheritdoc/>
    public override string ToString() => RequestUri;
}
