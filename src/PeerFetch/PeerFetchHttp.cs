using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace OspBridge.PeerFetch;

/// <summary>Maps HttpRequestMessage/HttpResponseMessage to and from v2 header blocks.</summary>
internal static class PeerFetchHttp
{
    /// <summary>Hop-by-hop fields (RFC 9110 §7.6.1) plus the legacy proxy ones: never forwarded.</summary>
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization", "host",
    };

    public static bool IsHopByHop(string name) => HopByHop.Contains(name);

    /// <summary>Adds the end-to-end fields of <paramref name="headers"/> and <paramref name="more"/> to <paramref name="head"/>, names lowercase.</summary>
    private static void AddEndToEnd(List<KeyValuePair<string, string>> head, HttpHeaders headers, HttpHeaders? more)
    {
        HashSet<string>? connectionListed = null;
        if (headers.NonValidated.TryGetValues("Connection", out var conn))
        {
            connectionListed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var v in conn) foreach (var t in v.Split(',')) connectionListed.Add(t.Trim());
        }
        Add(head, headers, connectionListed);
        if (more is not null) Add(head, more, connectionListed);

        static void Add(List<KeyValuePair<string, string>> head, HttpHeaders headers, HashSet<string>? connectionListed)
        {
            foreach (var h in headers.NonValidated)
            {
                if (IsHopByHop(h.Key) || connectionListed?.Contains(h.Key) == true) continue;
                string name = Lower(h.Key);
                foreach (var v in h.Value) head.Add(new(name, v));
            }
        }
    }

    /// <summary>The usual field names as they go on the wire (HttpHeaders hands out the same name strings every time).</summary>
    private static readonly Dictionary<string, string> LowerNames = new[]
    {
        "Accept", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age", "Allow", "Authorization", "Cache-Control",
        "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
        "Content-Type", "Cookie", "Date", "ETag", "Expires", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
        "If-Unmodified-Since", "Last-Modified", "Location", "Origin", "Pragma", "Range", "Referer", "Retry-After", "Server",
        "Set-Cookie", "User-Agent", "Vary", "Via", "WWW-Authenticate",
    }.ToDictionary(n => n, n => n.ToLowerInvariant(), StringComparer.Ordinal);

    private static string Lower(string name) => LowerNames.TryGetValue(name, out var lower) ? lower : Wire.HeadersFrame.WireName(name);

    public static List<KeyValuePair<string, string>> RequestHead(HttpRequestMessage request)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("request without a URI");
        var head = new List<KeyValuePair<string, string>>
        {
            new(":method", request.Method.Method),
            new(":path", uri.IsAbsoluteUri ? uri.PathAndQuery : uri.OriginalString),
        };
        string? authority = request.Headers.Host ?? (uri.IsAbsoluteUri ? uri.Authority : null);
        if (!string.IsNullOrEmpty(authority)) head.Add(new(":authority", authority));
        // Content-Length is computed on first read of the property (ByteArrayContent, a file's StreamContent…); the
        // NonValidated view would leave it out, the device would forward the body chunked, and origins that take no
        // chunked uploads (Python's http.server, many embedded servers) would read an empty body.
        _ = request.Content?.Headers.ContentLength;
        AddEndToEnd(head, request.Headers, request.Content?.Headers);
        return head;
    }

    public static List<KeyValuePair<string, string>> ResponseHead(HttpResponseMessage response)
    {
        var head = new List<KeyValuePair<string, string>> { new(":status", ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)) };
        _ = response.Content?.Headers.ContentLength; // computed length into the head (see RequestHead)
        AddEndToEnd(head, response.Headers, response.Content?.Headers);
        return head;
    }

    public static List<KeyValuePair<string, string>> Trailers(HttpHeaders trailers)
    {
        var list = new List<KeyValuePair<string, string>>();
        AddEndToEnd(list, trailers, null);
        return list;
    }

    public static string? Get(List<KeyValuePair<string, string>> head, string name)
    {
        foreach (var f in head) if (f.Key == name) return f.Value;
        return null;
    }

    /// <summary>A served request head → a request message with <paramref name="body"/> as its content (null: none).</summary>
    public static HttpRequestMessage ToRequest(List<KeyValuePair<string, string>> head, Stream? body)
    {
        string method = Get(head, ":method")!;
        string path = Get(head, ":path")!;
        if (!path.StartsWith('/')) path = "/" + path;
        string authority = Get(head, ":authority") ?? "localhost";
        if (!Uri.TryCreate("http://" + authority + path, UriKind.Absolute, out var uri) || uri.Authority.Length == 0)
            throw new PeerFetchException(PeerFetchError.Protocol, "bad :authority or :path");
        var request = new HttpRequestMessage(Method(method), uri);
        if (body is not null) request.Content = new StreamContent(body, 64 << 10);
        foreach (var f in head)
        {
            if (f.Key.StartsWith(':') || IsHopByHop(f.Key)) continue;
            if (!request.Headers.TryAddWithoutValidation(f.Key, f.Value))
            {
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.TryAddWithoutValidation(f.Key, f.Value);
            }
        }
        return request;
    }

    /// <summary>The shared instance for the usual methods (exact, case-sensitive match), a new one for others.</summary>
    private static HttpMethod Method(string method) => method switch
    {
        "GET" => HttpMethod.Get,
        "POST" => HttpMethod.Post,
        "PUT" => HttpMethod.Put,
        "DELETE" => HttpMethod.Delete,
        "HEAD" => HttpMethod.Head,
        "PATCH" => HttpMethod.Patch,
        "OPTIONS" => HttpMethod.Options,
        _ => new HttpMethod(method),
    };

    /// <summary>A response head → a response message whose content streams <paramref name="body"/>.</summary>
    public static HttpResponseMessage ToResponse(List<KeyValuePair<string, string>> head, Stream body, HttpRequestMessage request)
    {
        if (!int.TryParse(Get(head, ":status"), NumberStyles.None, CultureInfo.InvariantCulture, out int status) || status is < 100 or > 999)
            throw new PeerFetchException(PeerFetchError.Protocol, "response without a valid :status");
        var response = new HttpResponseMessage((HttpStatusCode)status) { RequestMessage = request, Content = new StreamContent(body, 64 << 10) };
        foreach (var f in head)
        {
            if (f.Key.StartsWith(':') || IsHopByHop(f.Key)) continue;
            if (!response.Headers.TryAddWithoutValidation(f.Key, f.Value))
                response.Content.Headers.TryAddWithoutValidation(f.Key, f.Value);
        }
        return response;
    }
}

/// <summary>A read-only Stream over a <see cref="PeerFetchStream"/>'s incoming body; disposing it early resets the exchange.</summary>
internal sealed class PeerFetchBodyStream(IPeerFetchExchange stream, long maxBytes = long.MaxValue, Action? onEnd = null, bool resetOnEarlyDispose = true) : Stream
{
    private long _read;
    private bool _ended;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_ended) return 0;
        int n;
        try
        {
            n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (PeerFetchException ex)
        {
            throw new IOException("the PeerFetch exchange was reset: " + ex.Message, ex);
        }
        _read += n;
        if (_read > maxBytes) throw new BodyTooLargeException(maxBytes);
        if (n == 0 && buffer.Length > 0)
        {
            _ended = true;
            onEnd?.Invoke();
        }
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && resetOnEarlyDispose && !_ended && !stream.IsComplete) stream.Reset(Wire.PeerFetchErrorCode.Cancel);
        base.Dispose(disposing);
    }
}

/// <summary>A request body went over the device's per-peer limit.</summary>
internal sealed class BodyTooLargeException(long limit) : IOException($"request body larger than {limit} bytes")
{
    public long Limit { get; } = limit;
}
