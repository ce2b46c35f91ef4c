namespace OspBridge.PeerFetch;

/// <summary>
/// One local HTTP origin the device proxies to, with the host names a peer may use for it and the path prefixes it may
/// reach. The host in a peer's URL is only a name: it selects a configured origin, it is never dialled.
/// </summary>
public sealed record PeerFetchOrigin
{
    /// <summary>Creates an origin entry for <paramref name="uri"/> (scheme, host, port; its path is ignored).</summary>
    public PeerFetchOrigin(Uri uri) => Uri = uri;

    /// <summary>Where requests go, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public Uri Uri { get; }

    /// <summary>
    /// Host names (with or without port) peers use for this origin besides its own authority and
    /// <c>localhost[:port]</c>, e.g. <c>device.local</c>. Matching ignores case.
    /// </summary>
    public IReadOnlyList<string> HostNames { get; init; } = [];

    /// <summary>Path prefixes a peer may reach (segment-wise: <c>/api</c> allows <c>/api</c> and <c>/api/x</c>, not <c>/apix</c>). Default: everything.</summary>
    public IReadOnlyList<string> AllowedPathPrefixes { get; init; } = ["/"];
}
