using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.Channels;
using OspBridge.PeerFetch.V1;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch;

/// <summary>
/// The device side: serves PeerFetch v1 and v2 on any <see cref="IMessageChannel"/> from a trusted peer, answering each
/// request with an <see cref="HttpMessageHandler"/> application — a <see cref="PeerFetchOriginProxy"/> to local origins,
/// or an in-process ASP.NET Core app (<see cref="Hosting.PeerFetchServer"/>). Per-peer limits (concurrency, rate, body
/// size) answer 429/413; every request is access-logged through the ILogger.
/// </summary>
/// <remarks>Authentication is the caller's job: attach a channel only once the peer is known and allowed, and pass its
/// identity string; limits and logs are keyed by it.</remarks>
public sealed class PeerFetchDevice : IDisposable
{
    private readonly HttpMessageInvoker _app;
    private readonly PeerFetchDeviceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PeerLimiter _limiter;

    /// <summary>
    /// Largest body read from the application at once: one DATA frame on an LP2P data channel or QUIC stream (their
    /// messages/frames take up to 256 KiB; 255 KiB leaves room for the frame and data-frame headers, so frame, message
    /// and pooled arrays all stay in the 256 KiB pool bucket). A channel with a smaller max-message-size splits it.
    /// The 200 MiB profile (issue 11): every message costs a hop into the QUIC connection's loop on each end, so four
    /// times fewer, larger messages than with 64 KiB.
    /// </summary>
    internal const int BodyChunk = 255 << 10;

    /// <summary>A response body of at most this many bytes (by its Content-Length) is read whole and sent with its head in one piece.</summary>
    internal const int SmallBody = 16 << 10;

    /// <summary>Creates a device serving <paramref name="application"/>.</summary>
    /// <param name="application">Answers the requests (owned by the device when <paramref name="disposeApplication"/>).</param>
    /// <param name="options">Limits and protocols.</param>
    /// <param name="disposeApplication">Dispose <paramref name="application"/> with the device.</param>
    public PeerFetchDevice(HttpMessageHandler application, PeerFetchDeviceOptions? options = null, bool disposeApplication = true)
    {
        _app = new HttpMessageInvoker(application, disposeApplication);
        _options = options ?? new PeerFetchDeviceOptions();
        _logger = _options.Logger ?? NullLogger.Instance;
        _time = _options.TimeProvider ?? TimeProvider.System;
        _limiter = new PeerLimiter(_options, _time);
    }

    /// <summary>A device that proxies to local origins (see <see cref="PeerFetchOriginProxy"/>).</summary>
    public static PeerFetchDevice CreateProxy(IReadOnlyList<PeerFetchOrigin> origins, PeerFetchDeviceOptions? options = null) =>
        new(new PeerFetchOriginProxy(origins, logger: options?.Logger), options);

    /// <summary>Requests of <paramref name="peerId"/> running now (diagnostics, tests).</summary>
    public int ActiveRequests(string peerId) => _limiter.Active(peerId);

    /// <summary>
    /// Serves one channel until it closes or <paramref name="cancellationToken"/> fires. The first message decides the
    /// protocol: a v2 HELLO, or a v1 JSON request. The channel is closed on return.
    /// </summary>
    public async Task ServeAsync(IMessageChannel channel, string peerId, CancellationToken cancellationToken = default)
    {
        ChannelMessage? first;
        try
        {
            first = await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        if (first is not { } m) return;
        if (_options.EnableV2 && !m.IsText && IsHello(m.Data.Span))
        {
            await ServeV2Async(channel, m, peerId, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!_options.EnableV1)
        {
            _logger.LogWarning("peerfetch {Peer}: first message is not a v2 HELLO and v1 is disabled; closing", peerId);
            await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        await new V1Session(this, channel, peerId).RunAsync(m, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsHello(ReadOnlySpan<byte> message) =>
        FrameHeader.TryRead(message, out var h) && h.Type == FrameType.Hello && h.StreamId == 0;

    // ------------------------------------------------------------------------------------------------ v2

    private async Task ServeV2Async(IMessageChannel channel, ChannelMessage hello, string peerId, CancellationToken cancellationToken)
    {
        var settings = PeerFetchSettings.Default with
        {
            InitialStreamWindow = _options.StreamWindow,
            InitialChannelWindow = _options.ChannelWindow,
            MaxConcurrentStreams = _options.MaxConcurrentStreamsPerChannel,
        };
        var conn = PeerFetchConnection.Accept(channel, hello, settings, _logger, _time, _options.KeepAliveInterval, _options.IdleTimeout);
        await using (conn.ConfigureAwait(false))
        {
            await ServeConnectionAsync(conn, peerId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Accepts and answers the peer's streams on a v2 connection (either role) until it closes.</summary>
    internal async Task ServeConnectionAsync(PeerFetchConnection conn, string peerId, CancellationToken cancellationToken)
    {
        var running = new List<Task>();
        try
        {
            while (await conn.AcceptStreamAsync(cancellationToken).ConfigureAwait(false) is { } stream)
            {
                running.RemoveAll(t => t.IsCompleted);
                running.Add(Task.Run(() => ServeStreamAsync(stream, peerId), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            conn.GoAway("device stopping");
        }
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Serves PeerFetch over a stream connection (an LP2P QUIC transport): one request per bidirectional stream
    /// (docs/peerfetch.md §2.6), same application, limits and access log as over channels. Returns when the connection
    /// closes or <paramref name="cancellationToken"/> fires; the connection is disposed on return.
    /// </summary>
    public async Task ServeAsync(Streams.IPeerFetchStreamConnection connection, string peerId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var running = new List<Task>();
        try
        {
            while (await connection.AcceptStreamAsync(cancellationToken).ConfigureAwait(false) is { } transport)
            {
                running.RemoveAll(t => t.IsCompleted);
                var exchange = Streams.PeerFetchStreamExchange.Accept(transport, _logger);
                running.Add(Task.Run(() => ServeExchangeAsync(exchange, peerId), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && ex is not OperationCanceledException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug(ex, "peerfetch {Peer}: stream connection ended", peerId);
        }
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ServeExchangeAsync(Streams.PeerFetchStreamExchange exchange, string peerId)
    {
        await using (exchange.ConfigureAwait(false))
        {
            try
            {
                var head = exchange.Head;
                if (_options.RequestHeadTimeout > TimeSpan.Zero) head = head.WaitAsync(_options.RequestHeadTimeout, _time);
                await head.ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("peerfetch {Peer}: quic stream sent no complete request head within {Seconds} s; reset", peerId, _options.RequestHeadTimeout.TotalSeconds);
                exchange.Reset(PeerFetchErrorCode.Cancel);
                return;
            }
            catch (PeerFetchException ex)
            {
                if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("peerfetch {Peer}: quic stream without a request head: {Error}", peerId, ex.Message);
                exchange.Reset(ex.Error == PeerFetchError.Protocol ? PeerFetchErrorCode.ProtocolError : PeerFetchErrorCode.Cancel);
                return;
            }
            await ServeStreamAsync(exchange, peerId, "v2/quic").ConfigureAwait(false);
        }
    }

    private async Task ServeStreamAsync(IPeerFetchExchange stream, string peerId, string protocol = "v2")
    {
        long started = _time.GetTimestamp();
        var head = await stream.Head.ConfigureAwait(false);
        string method = PeerFetchHttp.Get(head, ":method") ?? "?";
        string path = PeerFetchHttp.Get(head, ":path") ?? "?";
        int status = 0;
        long sent = 0;
        string outcome = "ok";
        var verdict = _limiter.TryEnter(peerId);
        try
        {
            HttpResponseMessage response;
            if (verdict != PeerLimiter.Verdict.Admitted)
            {
                response = PeerFetchOriginProxy.Error(HttpStatusCode.TooManyRequests, verdict == PeerLimiter.Verdict.RateLimited ? "request rate limit" : "too many concurrent requests");
                response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(1));
            }
            else if (long.TryParse(PeerFetchHttp.Get(head, "content-length"), NumberStyles.None, CultureInfo.InvariantCulture, out long declared) && declared > _options.MaxRequestBodySize)
            {
                response = PeerFetchOriginProxy.Error(HttpStatusCode.RequestEntityTooLarge, $"request body above {_options.MaxRequestBodySize} bytes");
            }
            else
            {
                response = await InvokeAsync(stream, head).ConfigureAwait(false);
            }
            using (response)
            using (var responseAborted = new CancellationTokenSource())
            {
                status = (int)response.StatusCode;
                // A reset while the body streams (the peer aborted mid-body) must stop the origin read at once, not
                // when the origin next sends something.
                stream.SetOnAborted(() => { try { responseAborted.Cancel(); } catch (ObjectDisposedException) { } });
                sent = await SendResponseAsync(stream, response, responseAborted.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is PeerFetchException or IOException or OperationCanceledException or HttpRequestException)
        {
            outcome = "aborted: " + ex.Message;
            stream.Reset(PeerFetchErrorCode.Cancel);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            outcome = "failed: " + ex.Message;
            _logger.LogError(ex, "peerfetch {Peer}: {Method} {Path} failed", peerId, method, path);
            stream.Reset(PeerFetchErrorCode.InternalError);
        }
        finally
        {
            if (verdict == PeerLimiter.Verdict.Admitted) _limiter.Exit(peerId);
        }
        if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("peerfetch {Peer} {Protocol} {Method} {Path} -> {Status} {Bytes}B {Ms}ms {Outcome}",
            peerId, protocol, method, path, status, sent, (long)_time.GetElapsedTime(started).TotalMilliseconds, outcome);
    }

    private async Task<HttpResponseMessage> InvokeAsync(IPeerFetchExchange stream, List<KeyValuePair<string, string>> head)
    {
        using var aborted = new CancellationTokenSource();
        var body = stream.HeadEndedStream ? null : new PeerFetchBodyStream(stream, _options.MaxRequestBodySize, resetOnEarlyDispose: false);
        HttpRequestMessage request;
        try
        {
            request = PeerFetchHttp.ToRequest(head, body);
        }
        catch (PeerFetchException ex)
        {
            return PeerFetchOriginProxy.Error(HttpStatusCode.BadRequest, ex.Message);
        }
        var watch = WatchResetAsync(stream, aborted);
        try
        {
            return await _app.SendAsync(request, aborted.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (FindTooLarge(ex))
        {
            return PeerFetchOriginProxy.Error(HttpStatusCode.RequestEntityTooLarge, $"request body above {_options.MaxRequestBodySize} bytes");
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            throw new PeerFetchException(PeerFetchError.StreamReset, "the peer cancelled the request");
        }
        catch (HttpRequestException ex)
        {
            return PeerFetchOriginProxy.Error(HttpStatusCode.BadGateway, ex.Message);
        }
        finally
        {
            _ = watch;
        }
    }

    /// <summary>Cancels the application's request when the peer resets the stream (polls nothing: waits on the head/reads).</summary>
    private static Task WatchResetAsync(IPeerFetchExchange stream, CancellationTokenSource aborted)
    {
        stream.SetOnAborted(() => { try { aborted.Cancel(); } catch (ObjectDisposedException) { } });
        return Task.CompletedTask;
    }

    private static bool FindTooLarge(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException) if (ex is BodyTooLargeException) return true;
        return false;
    }

    private static async Task<long> SendResponseAsync(IPeerFetchExchange stream, HttpResponseMessage response, CancellationToken aborted)
    {
        var head = PeerFetchHttp.ResponseHead(response);
        var content = response.Content;
        bool noBody = content is null || content.Headers.ContentLength == 0 || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified;
        if (noBody && !response.TrailingHeaders.Any())
        {
            await stream.SendHeadersAsync(head, endStream: true, CancellationToken.None).ConfigureAwait(false);
            FinishRequestSide(stream);
            return 0;
        }
        long sent = 0;
        bool ended = false;
        bool bodyDone = noBody;
        Stream? source = null;
        if (!noBody && content!.Headers.ContentLength is > 0 and <= SmallBody and var small)
        {
            // A small body of known length is read whole first, then goes out with its head in one piece (HEADERS + DATA
            // + end in one stream write, or queued together for one channel message): issue 11's 64 concurrent 1 KiB
            // GETs, session 16 — over q2q this was three hops into the QUIC loop per response (head, lease, commit), now
            // one. One spare byte: one more read confirms the end of the body (an in-process origin attaches its
            // trailers only when it completes).
            source = await content.ReadAsStreamAsync(aborted).ConfigureAwait(false);
            int declared = (int)small;
            byte[] whole = ArrayPool<byte>.Shared.Rent(declared + 1);
            try
            {
                int got = 0;
                while (got <= declared)
                {
                    int n = await source.ReadAsync(whole.AsMemory(got, declared + 1 - got), aborted).ConfigureAwait(false);
                    if (n == 0) { bodyDone = true; break; }
                    got += n;
                }
                ended = bodyDone && !response.TrailingHeaders.Any();
                await stream.SendHeadAndBodyAsync(head, whole.AsMemory(0, got), endStream: ended, aborted).ConfigureAwait(false);
                sent = got;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(whole);
            }
        }
        else
        {
            await stream.SendHeadersAsync(head, endStream: false, CancellationToken.None).ConfigureAwait(false);
        }
        if (!bodyDone)
        {
            // (After the small path only when the origin sent more than it announced: the rest streams as usual.)
            source ??= await content!.ReadAsStreamAsync(aborted).ConfigureAwait(false);
            // A known length ends the stream with its last DATA frame (no extra empty END_STREAM frame); a pooled
            // buffer sized to the body, at most 64 KiB (the profile showed a fresh 64 KiB array per response).
            long? length = content!.Headers.ContentLength;
            int size = (int)Math.Clamp(length ?? BodyChunk, 1, BodyChunk);
            // One spare byte: at the announced length, one more read confirms the end of the body, because an
            // in-process origin attaches its trailers only when the app completes (after its last write).
            // The exchange's header room in front: the body is framed where the origin's bytes landed (no copy).
            // Over a QUIC stream the body is read straight into the stream's send ring (a lease: no copy into the
            // transport), else into a pooled buffer.
            int room = stream.WriteHeaderRoom;
            byte[]? buffer = null;
            bool leased = false;
            try
            {
                while (true)
                {
                    var chunk = await stream.LeaseBodyAsync(size + 1, aborted).ConfigureAwait(false);
                    leased = !chunk.IsEmpty;
                    if (!leased) chunk = (buffer ??= ArrayPool<byte>.Shared.Rent(room + size + 1)).AsMemory(0, room + size + 1);
                    int cap = chunk.Length - room - 1;
                    int n = await source.ReadAsync(chunk.Slice(room, cap), aborted).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (leased) { leased = false; stream.CommitBody(0, endStream: false); }
                        break;
                    }
                    sent += n;
                    bool last = false;
                    if (length == sent)
                    {
                        int more = await source.ReadAsync(chunk.Slice(room + n, 1), aborted).ConfigureAwait(false);
                        if (more == 0) last = !response.TrailingHeaders.Any();
                        else { n += more; sent += more; }
                    }
                    if (leased)
                    {
                        leased = false;
                        stream.CommitBody(n, endStream: last);
                    }
                    else await stream.WriteInPlaceAsync(chunk[..(room + n)], endStream: last, aborted).ConfigureAwait(false);
                    if (last) { ended = true; break; }
                }
            }
            finally
            {
                if (leased) stream.CommitBody(0, endStream: false); // the origin failed mid-chunk: give the lease back empty
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        // Trailers are read once the body has ended (the origin may attach them at completion).
        var trailers = ended ? null : PeerFetchHttp.Trailers(response.TrailingHeaders);
        if (trailers is { Count: > 0 }) await stream.SendHeadersAsync(trailers, endStream: true, CancellationToken.None).ConfigureAwait(false);
        else if (!ended) await stream.WriteAsync(ReadOnlyMemory<byte>.Empty, endStream: true, CancellationToken.None).ConfigureAwait(false);
        FinishRequestSide(stream);
        return sent;
    }

    /// <summary>The response is complete; if the peer is still sending a body nobody reads, tell it to stop.</summary>
    private static void FinishRequestSide(IPeerFetchExchange stream)
    {
        if (!stream.RemoteEnded) stream.Reset(PeerFetchErrorCode.NoError);
    }

    // ------------------------------------------------------------------------------------------------ v1

    /// <summary>One v1 channel: strictly one request at a time, in order.</summary>
#pragma warning disable CA1001 // _send is disposed at the end of RunAsync, the session's whole life
    private sealed class V1Session(PeerFetchDevice device, IMessageChannel channel, string peerId)
#pragma warning restore CA1001
    {
        private readonly SemaphoreSlim _send = new(1, 1);

        public async Task RunAsync(ChannelMessage first, CancellationToken cancellationToken)
        {
            try
            {
                ChannelMessage? m = first;
                while (m is { } message && !cancellationToken.IsCancellationRequested)
                {
                    await HandleAsync(message, cancellationToken).ConfigureAwait(false);
                    m = await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (device._logger.IsEnabled(LogLevel.Debug)) device._logger.LogDebug(ex, "peerfetch {Peer}: v1 channel failed", peerId);
            }
            finally
            {
                _send.Dispose();
                await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        private long MaxBody => channel.MaxMessageSize > 0 ? channel.MaxMessageSize : device._options.V1DefaultMaxMessageSize;

        private async Task HandleAsync(ChannelMessage message, CancellationToken cancellationToken)
        {
            long started = device._time.GetTimestamp();
            if (!V1Request.TryParse(message.Data.Span, out var request))
            {
                await SendFinalAsync(400, "application/json", Json("request is not a v1 JSON object with a url"), cancellationToken).ConfigureAwait(false);
                if (device._logger.IsEnabled(LogLevel.Information)) device._logger.LogInformation("peerfetch {Peer} v1 (malformed) -> 400", peerId);
                return;
            }
            if (request.IsPing)
            {
                await SendTextAsync("""{"status":200}""", cancellationToken).ConfigureAwait(false);
                await SendTextAsync("pong", cancellationToken).ConfigureAwait(false);
                return;
            }
            using var heartbeatStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var heartbeats = HeartbeatsAsync(heartbeatStop.Token);
            int status;
            string? type;
            byte[] body;
            var verdict = device._limiter.TryEnter(peerId);
            try
            {
                (status, type, body) = verdict switch
                {
                    PeerLimiter.Verdict.Admitted => await InvokeAsync(request, cancellationToken).ConfigureAwait(false),
                    _ => (429, "application/json", Json(verdict == PeerLimiter.Verdict.RateLimited ? "request rate limit" : "too many concurrent requests")),
                };
            }
            finally
            {
                if (verdict == PeerLimiter.Verdict.Admitted) device._limiter.Exit(peerId);
                await heartbeatStop.CancelAsync().ConfigureAwait(false);
                await heartbeats.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            await SendFinalAsync(status, type, body, cancellationToken).ConfigureAwait(false);
            if (device._logger.IsEnabled(LogLevel.Information)) device._logger.LogInformation("peerfetch {Peer} v1 {Method} {Url} -> {Status} {Bytes}B {Ms}ms",
                peerId, request.Method, request.Url, status, body.Length, (long)device._time.GetElapsedTime(started).TotalMilliseconds);
        }

        private async Task<(int, string?, byte[])> InvokeAsync(V1Request v1, CancellationToken cancellationToken)
        {
            if (!Uri.TryCreate(v1.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                if (!Uri.TryCreate(new Uri("http://localhost"), v1.Url, out uri)) return (400, "application/json", Json("bad url"));
            }
            var head = new List<KeyValuePair<string, string>> { new(":method", v1.Method), new(":path", uri.PathAndQuery), new(":authority", uri.Authority) };
            if (v1.ContentType is not null) head.Add(new("content-type", v1.ContentType));
            if (v1.Body is { Length: > 0 } && v1.Body.Length > device._options.MaxRequestBodySize) return (413, "application/json", Json("request body too large"));
            using var request = PeerFetchHttp.ToRequest(head, v1.Body is null ? null : new MemoryStream(v1.Body));
            try
            {
                using var response = await device._app.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var limit = MaxBody;
                if (response.Content.Headers.ContentLength > limit) return TooLarge(limit);
                var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                var buffer = new MemoryStream();
                var chunk = new byte[16 << 10];
                int n;
                while ((n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + n > limit) return TooLarge(limit);
                    buffer.Write(chunk, 0, n);
                }
                string type = response.Content.Headers.ContentType?.ToString() ?? "None";
                return ((int)response.StatusCode, type, buffer.ToArray());
            }
            catch (HttpRequestException ex)
            {
                return (502, "application/json", Json("origin failed: " + ex.Message));
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException)
            {
                if (device._logger.IsEnabled(LogLevel.Error)) device._logger.LogError(ex, "peerfetch {Peer}: v1 {Url} failed", peerId, v1.Url);
                return (500, "application/json", Json("device error"));
            }
        }

        private static (int, string?, byte[]) TooLarge(long limit) =>
            (413, "application/json", Json($"response body larger than the peer's max-message-size ({limit} bytes); v1 cannot split it"));

        private static byte[] Json(string error) => Encoding.UTF8.GetBytes("{\"error\":" + System.Text.Json.JsonSerializer.Serialize(error) + "}");

        private async Task HeartbeatsAsync(CancellationToken cancellationToken)
        {
            await SendTextAsync(V1Header.Heartbeat, cancellationToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(device._options.V1HeartbeatInterval, device._time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                await SendTextAsync(V1Header.Heartbeat, cancellationToken).ConfigureAwait(false);
        }

        private async Task SendFinalAsync(int status, string? type, byte[] body, CancellationToken cancellationToken)
        {
            await SendTextAsync(new V1Header(status, type, body.Length).ToJson(), cancellationToken).ConfigureAwait(false);
            if (status != 204) await SendAsync(body, isText: false, cancellationToken).ConfigureAwait(false);
        }

        private Task SendTextAsync(string text, CancellationToken cancellationToken) => SendAsync(Encoding.UTF8.GetBytes(text), isText: true, cancellationToken);

        private async Task SendAsync(byte[] data, bool isText, CancellationToken cancellationToken)
        {
            await _send.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { await channel.SendAsync(data, isText, cancellationToken).ConfigureAwait(false); }
            finally { _send.Release(); }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _app.Dispose();
}
