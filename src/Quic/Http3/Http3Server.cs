using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Http3;

/// <summary>Settings of <see cref="Http3Server"/>.</summary>
public sealed class Http3ServerOptions
{
    /// <summary>Address and port to listen on (port 0: any).</summary>
    public IPEndPoint ListenEndPoint { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>Server certificate with private key.</summary>
    public X509Certificate2 Certificate { get; init; } = null!;

    /// <summary>Directory served for GET (null: only the numeric paths).</summary>
    public string? DocumentRoot { get; init; }

    /// <summary>Validate client addresses with a Retry packet first.</summary>
    public bool UseRetry { get; init; }

    /// <summary>Largest body returned for an all-digits path (like ngtcp2's --max-dyn-length).</summary>
    public long MaxDynamicLength { get; init; } = 1L << 32;

    /// <summary>Initiate a QUIC key update every this many 1-RTT packets (0: never; interop testing).</summary>
    public long KeyUpdateInterval { get; init; }

    /// <summary>Ask for and require a client certificate (mutual TLS).</summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>Decides on the client certificate when one is required (null: accept any, e.g. self-signed test peers).</summary>
    public Func<X509Certificate2, bool>? ValidateClientCertificate { get; init; }

    /// <summary>Where the server and its QUIC listener log (default: nowhere).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}

/// <summary>
/// Minimal HTTP/3 server: GET of files under a document root or of generated bodies for all-digits paths
/// (<c>/1000000</c> returns 1 000 000 zero bytes, like ngtcp2's server), POST echoes the request body.
/// </summary>
public sealed class Http3Server : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;
    private readonly QuicListener _listener;
    private readonly Http3ServerOptions _options;
    private readonly CancellationTokenSource _cts = new();
    private readonly ILogger _log;

    private static readonly Action<ILogger, string, Exception?> LogAcceptFailed =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(1, "Http3AcceptFailed"), "accept failed: {Message}");
    private static readonly Action<ILogger, string, Exception?> LogConnectionEnded =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(2, "Http3ConnectionEnded"), "connection ended: {Message}");
    private static readonly Action<ILogger, string, string, Exception?> LogRequest =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(3, "Http3Request"), "{Method} {Path}");
    private static readonly Action<ILogger, string, Exception?> LogStreamEnded =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(4, "Http3StreamEnded"), "request stream ended: {Message}");
    private readonly Task _acceptLoop;

    private Http3Server(QuicListener listener, Http3ServerOptions options)
    {
        _listener = listener;
        _options = options;
        _log = options.Logger;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where the server listens.</summary>
    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Diagnostics for tests: called with every accepted connection.</summary>
    internal Action<QuicConnection>? ConnectionAccepted { get; set; }

    /// <summary>Number of requests answered so far.</summary>
    public long RequestsServed => Interlocked.Read(ref _served);

    private long _served;

    /// <summary>Starts listening.</summary>
    public static async Task<Http3Server> StartAsync(Http3ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Certificate);
        var alpn = new List<SslApplicationProtocol> { new("h3") };
        var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = options.ListenEndPoint,
            ApplicationProtocols = alpn,
            UseRetry = options.UseRetry,
            Logger = options.Logger,
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                ServerAuthenticationOptions = new SslServerAuthenticationOptions
                {
                    ServerCertificate = options.Certificate,
                    ApplicationProtocols = alpn,
                    ClientCertificateRequired = options.RequireClientCertificate,
                    RemoteCertificateValidationCallback = options.RequireClientCertificate
                        ? (_, cert, _, _) => cert is X509Certificate2 c && (options.ValidateClientCertificate?.Invoke(c) ?? true)
                        : null,
                },
                MaxInboundBidirectionalStreams = 100,
                MaxInboundUnidirectionalStreams = 10,
                IdleTimeout = TimeSpan.FromSeconds(30),
                KeyUpdateInterval = options.KeyUpdateInterval,
                DefaultStreamErrorCode = (long)Http3ErrorCode.RequestCancelled,
                DefaultCloseErrorCode = (long)Http3ErrorCode.NoError,
            }),
        }, cancellationToken).ConfigureAwait(false);
        return new Http3Server(listener, options);
    }

    private async Task AcceptLoopAsync()
    {
        var ct = _cts.Token;
        while (!ct.IsCancellationRequested)
        {
            QuicConnection conn;
            try
            {
                conn = await _listener.AcceptConnectionAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (QuicException e)
            {
                LogAcceptFailed(_log, e.Message, null);
                if (ct.IsCancellationRequested) return;
                continue;
            }
            catch (ObjectDisposedException) { return; }
            ConnectionAccepted?.Invoke(conn);
            _ = Task.Run(() => ServeConnectionAsync(conn, ct), ct);
        }
    }

    private async Task ServeConnectionAsync(QuicConnection conn, CancellationToken ct)
    {
        await using var connScope = conn.ConfigureAwait(false);
        var session = new Http3Session(conn, isServer: true);
        try
        {
            await session.OpenLocalStreamsAsync(ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested)
            {
                var stream = await conn.AcceptInboundStreamAsync(ct).ConfigureAwait(false);
                if (stream.Type == QuicStreamType.Unidirectional) _ = Task.Run(() => session.HandleUnidirectionalAsync(stream, ct), ct);
                else _ = Task.Run(() => ServeRequestAsync(session, stream, ct), ct);
            }
        }
        catch (Exception e) when (e is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            LogConnectionEnded(_log, e.Message, null);
        }
    }

    private async Task ServeRequestAsync(Http3Session session, QuicStream stream, CancellationToken ct)
    {
        await using var streamScope = stream.ConfigureAwait(false);
        var reader = new Http3MessageReader();
        var msg = new Http3MessageCollector();
        byte[] buf = ArrayPool<byte>.Shared.Rent(ChunkSize);
        bool responding = false;
        try
        {
            // Read until the request headers are complete.
            bool fin = false;
            while (!msg.HeadersDone)
            {
                int n = await stream.ReadAsync(buf, ct).ConfigureAwait(false);
                if (n == 0) { reader.Finish(); fin = true; break; }
                reader.Process(buf.AsSpan(0, n), msg);
            }
            Http3Fields.Validate(msg.Headers, request: true);
            string method = Http3Fields.Get(msg.Headers, ":method")!;
            string path = Http3Fields.Get(msg.Headers, ":path") ?? "/";
            LogRequest(_log, method, path, null);
            responding = true;
            if (method == "POST" || method == "PUT")
            {
                await EchoAsync(stream, reader, msg, buf, fin, ct).ConfigureAwait(false);
            }
            else
            {
                // Drain the (normally empty) request body without keeping it.
                msg.Body.Clear();
                if (method is "GET" or "HEAD") await RespondAsync(stream, path, method == "HEAD", ct).ConfigureAwait(false);
                else await SendSimpleAsync(stream, 405, "method not allowed\n", ct).ConfigureAwait(false);
            }
            Interlocked.Increment(ref _served);
        }
        catch (QuicException e) when (e.ApplicationErrorCode == (long)Http3ErrorCode.MessageError && !responding)
        {
            stream.Abort(QuicAbortDirection.Both, (long)Http3ErrorCode.MessageError);
        }
        catch (QuicException e) when (e.QuicError == QuicError.ConnectionAborted && e.ApplicationErrorCode is >= 0x100 and < 0x300 && session.Error is null)
        {
            await session.FailAsync(e).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QuicException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            LogStreamEnded(_log, e.Message, null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static async Task EchoAsync(QuicStream stream, Http3MessageReader reader, Http3MessageCollector msg, byte[] buf, bool fin, CancellationToken ct)
    {
        await stream.WriteAsync(HeadersFrame.Encode([new(":status", "200"), new("content-type", "application/octet-stream")]), ct).ConfigureAwait(false);
        while (true)
        {
            if (msg.Body.WrittenCount > 0)
            {
                await stream.WriteAsync(DataFrame.EncodeHeader(msg.Body.WrittenCount), ct).ConfigureAwait(false);
                await stream.WriteAsync(msg.Body.WrittenMemory, ct).ConfigureAwait(false);
                msg.Body.Clear();
            }
            if (fin) break;
            int n = await stream.ReadAsync(buf, ct).ConfigureAwait(false);
            if (n == 0) { reader.Finish(); fin = true; continue; }
            reader.Process(buf.AsSpan(0, n), msg);
        }
        stream.CompleteWrites();
    }

    private async Task RespondAsync(QuicStream stream, string path, bool headOnly, CancellationToken ct)
    {
        string p = path;
        int q = p.IndexOfAny(['?', '#']);
        if (q >= 0) p = p[..q];
        string rel = Uri.UnescapeDataString(p.TrimStart('/'));
        if (rel.Length > 0 && rel.Length <= 18 && rel.All(char.IsAsciiDigit))
        {
            long len = long.Parse(rel, CultureInfo.InvariantCulture);
            if (len > _options.MaxDynamicLength) { await SendSimpleAsync(stream, 404, "too long\n", ct).ConfigureAwait(false); return; }
            await stream.WriteAsync(HeadersFrame.Encode([new(":status", "200"), new("content-length", len.ToString(CultureInfo.InvariantCulture))]), ct).ConfigureAwait(false);
            if (!headOnly) await SendGeneratedAsync(stream, len, ct).ConfigureAwait(false);
            stream.CompleteWrites();
            return;
        }
        string? file = ResolveFile(rel);
        if (file is null) { await SendSimpleAsync(stream, 404, "not found\n", ct).ConfigureAwait(false); return; }
        var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, useAsync: true);
        await using (fs.ConfigureAwait(false))
        {
            long len = fs.Length;
            await stream.WriteAsync(HeadersFrame.Encode(
            [
                new(":status", "200"), new("content-length", len.ToString(CultureInfo.InvariantCulture)), new("content-type", ContentType(file)),
            ]), ct).ConfigureAwait(false);
            if (!headOnly) await SendFileAsync(stream, fs, ct).ConfigureAwait(false);
        }
        stream.CompleteWrites();
    }

    /// <summary>
    /// Generated bodies are zero bytes, like ngtcp2's server, so downloads compare byte-exact across servers. One DATA
    /// frame header for the whole body, then the zeros written straight into the stream's send ring (a lease: nothing
    /// is copied; ngtcp2 likewise points its stream at a static buffer).
    /// </summary>
    private static async Task SendGeneratedAsync(QuicStream stream, long len, CancellationToken ct)
    {
        if (len == 0) return;
        await stream.WriteAsync(DataFrame.EncodeHeader(len), ct).ConfigureAwait(false);
        for (long sent = 0; sent < len;)
        {
            var lease = await stream.LeaseWriteAsync((int)Math.Min(4 * ChunkSize, len - sent), ct).ConfigureAwait(false);
            lease.Span.Clear();
            stream.CommitLease(lease.Length);
            sent += lease.Length;
        }
    }

    /// <summary>DATA frame header room in a leased file chunk: type (1) + a 4-byte length varint (chunks are below 2^30).</summary>
    private const int FileFrameRoom = 5;

    /// <summary>
    /// A file body in DATA frames, each read straight into the stream's send ring behind room for its header (no copy
    /// through a buffer). A short last read gets a shorter header: the data moves down by at most 3 bytes.
    /// </summary>
    private static async Task SendFileAsync(QuicStream stream, FileStream fs, CancellationToken ct)
    {
        while (true)
        {
            var lease = await stream.LeaseWriteAsync(FileFrameRoom + ChunkSize, ct).ConfigureAwait(false);
            if (lease.Length < FileFrameRoom + 1024)
            {
                // The ring wraps right here (or has little room): this chunk goes through a buffer.
                stream.CommitLease(0);
                byte[] buf = ArrayPool<byte>.Shared.Rent(ChunkSize);
                try
                {
                    int r = await fs.ReadAsync(buf.AsMemory(0, ChunkSize), ct).ConfigureAwait(false);
                    if (r == 0) return;
                    await stream.WriteAsync(DataFrame.EncodeHeader(r), ct).ConfigureAwait(false);
                    await stream.WriteAsync(buf.AsMemory(0, r), ct).ConfigureAwait(false);
                    continue;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buf);
                }
            }
            int n;
            try
            {
                n = await fs.ReadAsync(lease[FileFrameRoom..], ct).ConfigureAwait(false);
            }
            catch
            {
                stream.CommitLease(0);
                throw;
            }
            if (n == 0) { stream.CommitLease(0); return; }
            // The DATA frame header written in place: no header array per chunk.
            int headerLength = DataFrame.HeaderLength(n);
            var span = lease.Span;
            if (headerLength < FileFrameRoom) span.Slice(FileFrameRoom, n).CopyTo(span[headerLength..]);
            DataFrame.WriteHeader(span, n);
            stream.CommitLease(headerLength + n);
        }
    }

    private string? ResolveFile(string rel)
    {
        if (_options.DocumentRoot is null) return null;
        string root = Path.GetFullPath(_options.DocumentRoot);
        string full = Path.GetFullPath(Path.Combine(root, rel));
        if (!full.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal) && full != root) return null; // no traversal
        if (Directory.Exists(full)) full = Path.Combine(full, "index.html");
        return File.Exists(full) ? full : null;
    }

    private static string ContentType(string file) => Path.GetExtension(file).ToLowerInvariant() switch
    {
        ".html" or ".htm" => "text/html; charset=utf-8",
        ".js" => "application/javascript",
        ".css" => "text/css",
        ".json" => "application/json",
        ".txt" => "text/plain",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };

    private static async Task SendSimpleAsync(QuicStream stream, int status, string body, CancellationToken ct)
    {
        byte[] b = System.Text.Encoding.UTF8.GetBytes(body);
        byte[] headers = HeadersFrame.Encode(
        [
            new(":status", status.ToString(CultureInfo.InvariantCulture)), new("content-length", b.Length.ToString(CultureInfo.InvariantCulture)),
            new("content-type", "text/plain"),
        ]);
        await stream.WriteAsync((byte[])[.. headers, .. DataFrame.Encode(b)], completeWrites: true, ct).ConfigureAwait(false);
    }

    /// <summary>Stops accepting and closes the listener.</summary>
    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        await _listener.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or QuicException or ObjectDisposedException)
        {
            // shutting down
        }
        _cts.Dispose();
    }
}
