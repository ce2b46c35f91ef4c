using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace OspBridge.Bridge.Server;

/// <summary>Settings of <c>ospbridge serve</c>.</summary>
internal sealed class BridgeServerOptions
{
    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress Bind { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port (0: any free port).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>POST/PATCH/DELETE requests allowed per client address per <see cref="MutationWindow"/> (then 429).</summary>
    public int MutationsPerWindow { get; init; } = 60;

    /// <summary>The window of <see cref="MutationsPerWindow"/>.</summary>
    public TimeSpan MutationWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Most HTTP requests served at once (more wait in a bounded queue, then 503).</summary>
    public int MaxConcurrentRequests { get; init; } = 512;

    /// <summary>WHEP/WHIP session limits (docs/bridge.md).</summary>
    public WhepSessionOptions Whep { get; init; } = new();

    /// <summary>Serve HTTPS with this certificate (with its private key) instead of HTTP (<c>serve --https</c>).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }

    /// <summary>More endpoints (the <c>demo</c> command's <c>/api/demo</c>; null: none).</summary>
    public Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder>? MapExtra { get; init; }

    /// <summary>When clients get the bridge's TURN relay (<c>serve --relay</c>; docs/bridge.md, "Relay").</summary>
    public OspBridge.Bridge.Relay.RelayMode Relay { get; init; } = OspBridge.Bridge.Relay.RelayMode.Auto;

    /// <summary>The relay's UDP port (0: any free port).</summary>
    public int RelayPort { get; init; }

    /// <summary>The relay's TCP port for <c>turn:…?transport=tcp</c> (0: any free port; -1: no TCP/TLS).</summary>
    public int RelayTcpPort { get; init; }

    /// <summary>The relay's TLS port for <c>turns:</c> with <see cref="Certificate"/> (0: any free port; only with a certificate).</summary>
    public int RelayTlsPort { get; init; }
}

/// <summary>
/// <c>ospbridge serve</c>: Kestrel with the bridge's endpoints (docs/bridge.md) over a <see cref="DeviceRegistry"/>.
/// </summary>
internal sealed class BridgeServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly WebApplication _app;
    private readonly DeviceRegistry _devices;
    private readonly BridgeTokens _tokens;
    private readonly PeerJsSignaling _peerJs;
    private readonly WhepEndpoint _whep;
    private readonly ILogger _logger;
    private readonly List<Channel<DeviceView>> _subscribers = [];
    private readonly OpenStreams _streams = new();
    private OspBridge.Bridge.Relay.TurnRelayServer? _relay;

    private BridgeServer(WebApplication app, DeviceRegistry devices, BridgeTokens tokens, ILogger logger, WhepSessionOptions whep)
    {
        _whep = new WhepEndpoint(devices, new WhepSessions(whep, logger), logger, OpenStream);
        _app = app;
        _devices = devices;
        _tokens = tokens;
        _logger = logger;
        _peerJs = new PeerJsSignaling(devices, logger, TimeProvider.System);
        _devices.Changed += OnDeviceChanged;
        _tokens.Revoked += OnTokenRevoked;
    }

    /// <summary>The streams open under browser tokens (ended when their token is revoked).</summary>
    internal OpenStreams Streams => _streams;

    /// <summary>The URL the server listens on (<c>http://addr:port</c>).</summary>
    public string Url { get; private set; } = "";

    /// <summary>The TURN relay's UDP port, or null with <c>--relay never</c>.</summary>
    public int? RelayPort => _relay?.Port;

    /// <summary>The TURN relay's TCP and TLS ports (TLS null without a certificate), or null without them.</summary>
    public (int Tcp, int? Tls)? RelayStreamPorts => _relay?.TcpPort is { } tcp ? (tcp, _relay.TlsPort) : null;

    /// <summary>The TURN relay's HTTP side (ICE servers for a client, numbers).</summary>
    internal OspBridge.Bridge.Relay.RelayEndpoints RelayEndpoints { get; private set; } = null!;

    /// <summary>The live WHEP/WHIP sessions.</summary>
    internal WhepSessions WhepSessions => _whep.Sessions;

    /// <summary>The URL that logs a browser in (the admin token in the fragment, never sent in a request line).</summary>
    public string AdminUrl => $"{Url}/#token={_tokens.AdminToken}";

    /// <summary>Builds and starts the server.</summary>
    public static async Task<BridgeServer> StartAsync(BridgeServerOptions options, DeviceRegistry devices, BridgeTokens tokens, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "ospbridge", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.MaxRequestLineSize = 8 * 1024;
            k.Limits.MaxConcurrentConnections = 2048;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
            k.Listen(options.Bind, options.Port, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                if (options.Certificate is { } certificate) l.UseHttps(certificate);
            });
        });
        builder.Services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            r.OnRejected = (ctx, _) =>
            {
                ctx.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(options.MutationWindow.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return ValueTask.CompletedTask;
            };
            r.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                PartitionedRateLimiter.Create<HttpContext, string>(ctx =>
                    HttpMethods.IsPost(ctx.Request.Method) || HttpMethods.IsPatch(ctx.Request.Method) || HttpMethods.IsDelete(ctx.Request.Method) || HttpMethods.IsPut(ctx.Request.Method)
                        ? RateLimitPartition.GetFixedWindowLimiter(ctx.Connection.RemoteIpAddress?.ToString() ?? "?", _ => new FixedWindowRateLimiterOptions
                        {
                            PermitLimit = options.MutationsPerWindow,
                            Window = options.MutationWindow,
                            QueueLimit = 0,
                        })
                        : RateLimitPartition.GetNoLimiter("read")),
                PartitionedRateLimiter.Create<HttpContext, string>(_ => RateLimitPartition.GetConcurrencyLimiter("all", _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = options.MaxConcurrentRequests,
                    QueueLimit = options.MaxConcurrentRequests,
                    QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                })));
        });
        var app = builder.Build();
        var logger = loggers.CreateLogger("bridge.http");
        var server = new BridgeServer(app, devices, tokens, logger, options.Whep);
        try
        {
            if (options.Relay != OspBridge.Bridge.Relay.RelayMode.Never)
            {
                server._relay = OspBridge.Bridge.Relay.TurnRelayServer.Start(options.Bind, options.RelayPort, loggers.CreateLogger("bridge.relay"), TimeProvider.System);
                if (options.RelayTcpPort >= 0) server._relay.ListenStreams(options.Bind, options.RelayTcpPort, options.Certificate, options.RelayTlsPort);
            }
            server.RelayEndpoints = new OspBridge.Bridge.Relay.RelayEndpoints(server._relay, options.Relay, devices);
            server.RelayEndpoints.Map(app);
            server.Map();
            options.MapExtra?.Invoke(app);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // e.g. the HTTP port is taken (the demo then retries on a free port): nothing of this attempt may stay
            // bound or subscribed — the relay socket, the registry subscription, the app
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses;
        var address = addresses?.FirstOrDefault() ?? $"http://{options.Bind}:{options.Port}";
        var uri = new Uri(address);
        string host = options.Bind.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{options.Bind}]" : options.Bind.ToString();
        server.Url = $"{(options.Certificate is null ? "http" : "https")}://{host}:{uri.Port}";
        return server;
    }

    private void Map()
    {
        var app = _app;
        app.Use(async (ctx, next) =>
        {
            try
            {
                await next(ctx).ConfigureAwait(false);
            }
            catch (BridgeHttpException ex) when (!ctx.Response.HasStarted)
            {
                await WriteErrorAsync(ctx, ex.Status, ex.Message).ConfigureAwait(false);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (!ctx.Response.HasStarted)
            {
                await WriteErrorAsync(ctx, ex.StatusCode, ex.Message).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
            {
            }
        });
        app.Use((ctx, next) => WhepEndpoint.CorsAsync(ctx, () => next(ctx)));
        // Authentication before the rate limiter: junk without a token is turned away cheaply.
        app.Use(async (ctx, next) =>
        {
            if (BridgeAuth.IsProtected(ctx.Request.Path) && !_tokens.IsValid(BridgeAuth.Credential(ctx.Request)))
            {
                ctx.Response.Headers.WWWAuthenticate = "Bearer realm=\"ospbridge\"";
                await WriteErrorAsync(ctx, 401, "missing or wrong token").ConfigureAwait(false);
                return;
            }
            await next(ctx).ConfigureAwait(false);
        });
        app.UseRateLimiter();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });

        app.MapPost("/api/login", (Delegate)LoginAsync);
        app.MapPost("/api/logout", Logout);
        app.MapGet("/api/devices", () => Results.Json(_devices.List(), Json));
        app.MapGet("/api/devices/events", DeviceEventsAsync);
        app.MapGet("/api/devices/{id}", (string id) => _devices.Find(id) is { } d ? Results.Json(d, Json) : throw new BridgeHttpException(404, $"no device {id}"));
        app.MapPost("/api/devices/{id}/pair", PairAsync);
        app.MapDelete("/api/devices/{id}/pair", async (string id) =>
            await _devices.UnpairAsync(id).ConfigureAwait(false) ? Results.Json(new { paired = false }, Json) : throw new BridgeHttpException(404, $"no device {id}"));
        app.MapGet("/api/tokens", () => Results.Json(_tokens.List(), Json));
        app.MapDelete("/api/tokens/{tokenId}", (string tokenId) =>
            _tokens.Revoke(tokenId) ? Results.NoContent() : throw new BridgeHttpException(404, $"no token {tokenId}"));
        GrantEndpoints.Map(app, _devices, _tokens);
        app.MapGet("/api/bridge", () => Results.Json(new { fp = _devices.Fingerprint, peerjsClients = _peerJs.ClientCount }, Json));
        app.Map("/devices/{id}/http/{**path}", (HttpContext ctx, string id, string? path) => RestGateway.ForwardAsync(ctx, _devices, _tokens, id, path, _logger));
        app.Map("/ws/{id}", async (HttpContext ctx, string id) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest) throw new BridgeHttpException(400, "WebSocket signaling needs a WebSocket upgrade");
            using var lease = OpenStream(ctx);
            await WsSignaling.RunAsync(ctx, _devices, id, _logger, TimeProvider.System, lease.Revoked).ConfigureAwait(false);
        });
        _whep.Map(app);
        app.MapGet("/peerjs/{key}/id", () => PeerJsSignaling.NewId());
        app.MapGet("/peerjs/id", () => PeerJsSignaling.NewId());
        app.Map("/peerjs", PeerJsAsync);
        app.Map("/peerjs/peerjs", PeerJsAsync);
        app.MapFallback("{**path}", async ctx => // the default pattern skips paths with a dot (app.js)
        {
            if ((HttpMethods.IsGet(ctx.Request.Method) || HttpMethods.IsHead(ctx.Request.Method))
                && await StaticAssets.TryServeAsync(ctx, ctx.Request.Path.Value ?? "/").ConfigureAwait(false))
                return;
            await WriteErrorAsync(ctx, 404, "not found").ConfigureAwait(false);
        });
    }

    private async Task<IResult> LoginAsync(HttpContext ctx)
    {
        string? token = BridgeAuth.Credential(ctx.Request);
        if (token is null)
        {
            var body = await ReadJsonAsync(ctx).ConfigureAwait(false);
            token = body.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        if (!_tokens.IsValid(token)) throw new BridgeHttpException(401, "missing or wrong token");
        var (browserToken, view) = _tokens.Issue(ctx.Request.Headers.UserAgent.ToString());
        BridgeAuth.SetCookie(ctx.Response, browserToken, ctx.Request.IsHttps);
        return Results.Json(new { id = view.Id, name = view.Name }, Json);
    }

    /// <summary>
    /// <c>POST /api/logout</c>: revokes the caller's own browser token (its open streams end with it) and clears the
    /// session cookie; 204. The admin token cannot be revoked: only the cookie is cleared.
    /// </summary>
    private IResult Logout(HttpContext ctx)
    {
        if (_tokens.IdOf(BridgeAuth.Credential(ctx.Request)) is { } id) _tokens.Revoke(id);
        ctx.Response.Cookies.Delete(BridgeAuth.CookieName, new CookieOptions { Path = "/", Secure = ctx.Request.IsHttps, HttpOnly = true, SameSite = SameSiteMode.Strict });
        return Results.NoContent();
    }

    /// <summary>A lease on the caller's credential for a long-lived stream (<see cref="OpenStreams"/>).</summary>
    private OpenStreams.Lease OpenStream(HttpContext ctx)
    {
        string? credential = BridgeAuth.Credential(ctx.Request);
        return _streams.Open(_tokens.IdOf(credential), () => _tokens.IsValid(credential));
    }

    private async Task PeerJsAsync(HttpContext ctx)
    {
        using var lease = OpenStream(ctx);
        await _peerJs.RunAsync(ctx, lease.Revoked).ConfigureAwait(false);
    }

    private void OnTokenRevoked(string tokenId)
    {
        int ended = _streams.Revoke(tokenId);
        if (ended > 0 && _logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("browser token {Id} revoked: {Count} open stream(s) ended", tokenId, ended);
    }

    private async Task<IResult> PairAsync(HttpContext ctx, string id)
    {
        var body = await ReadJsonAsync(ctx).ConfigureAwait(false);
        if (_devices.Find(id) is null) throw new BridgeHttpException(404, $"no device {id}");
        if (body.TryGetProperty("pin", out var pinElement))
        {
            if (pinElement.ValueKind != JsonValueKind.String) throw new BridgeHttpException(400, "\"pin\" must be a string");
            string pin = pinElement.GetString()!;
            if (pin.Length is 0 or > 64 || !pin.All(c => char.IsAsciiDigit(c) || c is '-' or ' '))
                throw new BridgeHttpException(400, "\"pin\" must be the digits the device shows");
            return await _devices.SubmitPinAsync(id, pin, ctx.RequestAborted).ConfigureAwait(false)
                ? Results.Json(new { paired = true }, Json)
                : Results.Json(new { error = "wrong PIN" }, Json, statusCode: 403);
        }
        bool showsPin = await _devices.StartPairingAsync(id, ctx.RequestAborted).ConfigureAwait(false);
        return showsPin
            ? Results.Json(new { paired = false, pin = "the device shows a PIN: POST {\"pin\":\"...\"}" }, Json, statusCode: 202)
            : Results.Json(new { paired = true }, Json);
    }

    private async Task DeviceEventsAsync(HttpContext ctx)
    {
        var channel = Channel.CreateBounded<DeviceView>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_subscribers)
        {
            if (_subscribers.Count >= 256) throw new BridgeHttpException(503, "too many event subscribers");
            _subscribers.Add(channel);
        }
        using var lease = OpenStream(ctx);
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lease.Revoked);
        try
        {
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-store";
            ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
            await WriteEventAsync(ctx, "devices", JsonSerializer.Serialize(_devices.List(), Json)).ConfigureAwait(false);
            while (!stream.IsCancellationRequested)
            {
                using var ping = CancellationTokenSource.CreateLinkedTokenSource(stream.Token);
                ping.CancelAfter(TimeSpan.FromSeconds(15));
                try
                {
                    var view = await channel.Reader.ReadAsync(ping.Token).ConfigureAwait(false);
                    await WriteEventAsync(ctx, "device", JsonSerializer.Serialize(view, Json)).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stream.IsCancellationRequested)
                {
                    await ctx.Response.WriteAsync(": keep-alive\n\n", ctx.RequestAborted).ConfigureAwait(false);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ChannelClosedException)
        {
        }
        finally
        {
            lock (_subscribers) _subscribers.Remove(channel);
        }
        if (lease.IsRevoked && !ctx.RequestAborted.IsCancellationRequested)
        {
            // Say why before the stream ends (EventSource reconnects, gets 401 and gives up).
            try { await WriteEventAsync(ctx, "revoked", "{}").ConfigureAwait(false); }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException) { }
        }
    }

    private static async Task WriteEventAsync(HttpContext ctx, string name, string data)
    {
        await ctx.Response.WriteAsync($"event: {name}\ndata: {data}\n\n", ctx.RequestAborted).ConfigureAwait(false);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
    }

    private void OnDeviceChanged(DeviceView view)
    {
        lock (_subscribers)
            foreach (var s in _subscribers) s.Writer.TryWrite(view);
    }

    /// <summary>A JSON object body: 415 unless <c>application/json</c>, 400 unless a JSON object of at most 64 KiB.</summary>
    private static async Task<JsonElement> ReadJsonAsync(HttpContext ctx)
    {
        var type = ctx.Request.ContentType;
        if (type is null || !type.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase))
            throw new BridgeHttpException(415, "expected Content-Type: application/json");
        if (ctx.Request.ContentLength > 64 * 1024) throw new BridgeHttpException(413, "body too large");
        using var ms = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted).ConfigureAwait(false)) > 0)
        {
            ms.Write(buffer, 0, n);
            if (ms.Length > 64 * 1024) throw new BridgeHttpException(413, "body too large");
        }
        try
        {
            using var doc = JsonDocument.Parse(ms.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new BridgeHttpException(400, "expected a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new BridgeHttpException(400, "bad JSON: " + ex.Message.Split(". ")[0]);
        }
    }

    private static async Task WriteErrorAsync(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { error = message }, Json), ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Stops the server (the registry is the caller's).</summary>
    public async ValueTask DisposeAsync()
    {
        _devices.Changed -= OnDeviceChanged;
        _tokens.Revoked -= OnTokenRevoked;
        await _whep.Sessions.DisposeAsync().ConfigureAwait(false);
        lock (_subscribers)
            foreach (var s in _subscribers) s.Writer.TryComplete();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_relay is not null) await _relay.DisposeAsync().ConfigureAwait(false);
    }
}
