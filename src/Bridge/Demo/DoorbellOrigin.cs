using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OspBridge.Bridge.Demo;

/// <summary>
/// The doorbell's small local REST API (the device's <c>--http-origin</c> in the demo), on 127.0.0.1 only:
/// <c>GET /api/status</c> → JSON (name, state, rings, uptime), <c>POST /api/ring</c> → rings the bell (JSON),
/// <c>GET /api/snapshot.svg</c> → an SVG "snapshot" card (an image for the REST explorer).
/// Browsers reach it only through the bridge's REST gateway (PeerFetch over the LP2P session).
/// </summary>
internal sealed class DoorbellOrigin : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly long _started;
    private int _rings;
    private int _requests;

    private DoorbellOrigin(WebApplication app, string name, TimeProvider time)
    {
        _app = app;
        _time = time;
        _started = time.GetTimestamp();
        Name = name;
    }

    /// <summary>The doorbell's name in its answers.</summary>
    public string Name { get; }

    /// <summary><c>http://127.0.0.1:port</c>.</summary>
    public string Url { get; private set; } = "";

    /// <summary>Requests served so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Starts the origin on a free loopback port.</summary>
    public static async Task<DoorbellOrigin> StartAsync(string name, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "ospbridge-demo-origin", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var origin = new DoorbellOrigin(app, name, TimeProvider.System);
        app.Use(async (ctx, next) =>
        {
            Interlocked.Increment(ref origin._requests);
            await next(ctx).ConfigureAwait(false);
        });
        app.MapGet("/api/status", () => Results.Json(origin.Status(), Json));
        app.MapPost("/api/ring", () =>
        {
            Interlocked.Increment(ref origin._rings);
            return Results.Json(new { rang = true, rings = Volatile.Read(ref origin._rings) }, Json);
        });
        app.MapGet("/api/snapshot.svg", () => Results.Text(origin.Snapshot(), "image/svg+xml"));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var addresses = app.Services.GetService(typeof(Microsoft.AspNetCore.Hosting.Server.IServer)) is Microsoft.AspNetCore.Hosting.Server.IServer server
            ? server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses
            : null;
        var uri = new Uri(addresses?.FirstOrDefault() ?? throw new InvalidOperationException("the demo origin has no address"));
        origin.Url = $"http://127.0.0.1:{uri.Port}";
        return origin;
    }

    private object Status() => new
    {
        device = Name,
        kind = "doorbell",
        state = "idle",
        rings = Volatile.Read(ref _rings),
        uptimeSeconds = Math.Round(_time.GetElapsedTime(_started).TotalSeconds, 1),
    };

    private string Snapshot()
    {
        string stamp = _time.GetUtcNow().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
        return $"""
            <svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180">
            <rect width="320" height="180" fill="#234"/>
            <circle cx="160" cy="80" r="34" fill="#fc3"/>
            <text x="160" y="145" fill="#fff" font-family="sans-serif" font-size="16" text-anchor="middle">{WebUtility.HtmlEncode(Name)}</text>
            <text x="160" y="166" fill="#9ab" font-family="sans-serif" font-size="11" text-anchor="middle">{stamp}</text>
            </svg>
            """;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try { await _app.StopAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
