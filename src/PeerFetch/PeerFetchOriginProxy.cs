using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace OspBridge.PeerFetch;

/// <summary>
/// The device's reverse proxy to local origins, as an <see cref="HttpMessageHandler"/> (what <see cref="PeerFetchDevice"/>
/// serves): the request's host selects a configured <see cref="PeerFetchOrigin"/> (anything else: 403), its path must be
/// under an allowed prefix (else 403), hop-by-hop fields are dropped both ways, bodies stream both ways, an unreachable
/// origin gives 502 and a timeout 504. Built on <see cref="SocketsHttpHandler"/> (docs/peerfetch.md §4 says why not YARP).
/// </summary>
public sealed class PeerFetchOriginProxy : HttpMessageHandler
{
    private readonly IReadOnlyList<PeerFetchOrigin> _origins;
    private readonly HttpMessageInvoker _invoker;
    private readonly ILogger _logger;
    private readonly TimeSpan _timeout;

    /// <summary>Creates a proxy to <paramref name="origins"/>.</summary>
    /// <param name="origins">The origins; the first one also answers requests that name no host.</param>
    /// <param name="originTimeout">How long the origin may take to send its response head (default 100 s).</param>
    /// <param name="logger">Diagnostics.</param>
    /// <param name="originHandler">The handler that talks to the origins (default: a SocketsHttpHandler without proxy, cookies, redirects or decompression).</param>
    public PeerFetchOriginProxy(IReadOnlyList<PeerFetchOrigin> origins, TimeSpan? originTimeout = null, ILogger? logger = null, HttpMessageHandler? originHandler = null)
    {
        if (origins.Count == 0) throw new ArgumentException("at least one origin", nameof(origins));
        _origins = origins;
        _timeout = originTimeout ?? TimeSpan.FromSeconds(100);
        _logger = logger ?? NullLogger.Instance;
        _invoker = new HttpMessageInvoker(originHandler ?? new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            MaxConnectionsPerServer = 256,
        }, disposeHandler: true);
    }

    /// <inheritdoc/>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        var origin = Select(uri);
        if (origin is null) return Error(HttpStatusCode.Forbidden, $"host '{uri.Authority}' is not an origin of this device");
        string path = uri.AbsolutePath;
        if (!PathAllowed(origin, uri)) return Error(HttpStatusCode.Forbidden, $"path '{path}' is not allowed");
        var target = new Uri(origin.Uri, uri.PathAndQuery);
        using var forward = new HttpRequestMessage(request.Method, target) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower, Content = request.Content };
        foreach (var h in request.Headers.NonValidated)
            if (!PeerFetchHttp.IsHopByHop(h.Key)) forward.Headers.TryAddWithoutValidation(h.Key, h.Value);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        HttpResponseMessage response;
        try
        {
            response = await _invoker.SendAsync(forward, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Error(HttpStatusCode.GatewayTimeout, $"origin {origin.Uri} did not answer within {_timeout}");
        }
        catch (HttpRequestException ex) when (ex.InnerException is not BodyTooLargeException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug(ex, "peerfetch proxy: origin {Origin} failed", origin.Uri);
            return Error(HttpStatusCode.BadGateway, $"origin {origin.Uri} unreachable: {ex.HttpRequestError}");
        }
        // The non-validated view: enumerating the validated one parsed every value (a Server header became a
        // ProductInfoHeaderValue per response) just to read the names.
        List<string>? hop = null;
        foreach (var h in response.Headers.NonValidated)
            if (PeerFetchHttp.IsHopByHop(h.Key)) (hop ??= []).Add(h.Key);
        if (hop is not null) foreach (var name in hop) response.Headers.Remove(name);
        response.RequestMessage = request;
        return response;
    }

    private PeerFetchOrigin? Select(Uri uri)
    {
        string authority = uri.Authority;
        foreach (var o in _origins)
        {
            if (Eq(authority, o.Uri.Authority) || Eq(uri.Host, "localhost") && (uri.IsDefaultPort || uri.Port == o.Uri.Port)) return o;
            foreach (var name in o.HostNames)
                if (Eq(authority, name) || Eq(uri.Host, name)) return o;
        }
        return null;

        static bool Eq(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    }

    private static bool PathAllowed(PeerFetchOrigin origin, Uri uri)
    {
        // Reject dot segments and their encodings, backslashes and encoded slashes: a prefix check must see the real path.
        string raw = uri.OriginalString;
        int q = raw.IndexOf('?', StringComparison.Ordinal);
        string rawPath = q >= 0 ? raw[..q] : raw;
        if (rawPath.Contains("%2e", StringComparison.OrdinalIgnoreCase) || rawPath.Contains("%2f", StringComparison.OrdinalIgnoreCase)
            || rawPath.Contains("%5c", StringComparison.OrdinalIgnoreCase) || rawPath.Contains('\\', StringComparison.Ordinal)) return false;
        foreach (var segment in rawPath.AsSpan().Split('/'))
        {
            var part = rawPath.AsSpan(segment);
            if (part is "." or "..") return false;
        }
        string path = uri.AbsolutePath;
        foreach (var prefix in origin.AllowedPathPrefixes)
        {
            if (prefix == "/" || prefix.Length == 0) return true;
            if (prefix.EndsWith('/') ? path.StartsWith(prefix, StringComparison.Ordinal) : path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    internal static HttpResponseMessage Error(HttpStatusCode status, string message)
    {
        var json = "{\"error\":" + System.Text.Json.JsonSerializer.Serialize(message) + "}";
        return new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _invoker.Dispose();
        base.Dispose(disposing);
    }
}
