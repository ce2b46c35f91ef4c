using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Channels;
using OspBridge.Testing.Channels;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc;

namespace OspBridge.PeerFetch.Tests;

/// <summary>Deterministic body bytes: byte i of a body is (i * 31 + i / 251) mod 256.</summary>
internal static class Bodies
{
    public static byte[] Make(long n, int seed = 0)
    {
        var b = new byte[n];
        for (long i = 0; i < n; i++) b[i] = (byte)((i * 31) + (i / 251) + seed);
        return b;
    }
}

/// <summary>A Kestrel origin on 127.0.0.1 with the endpoints the tests use.</summary>
internal sealed class Origin : IAsyncDisposable
{
    private readonly WebApplication _app;
    public TaskCompletionSource WaitStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource WaitAborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public Uri Uri { get; private set; } = null!;
    public int Requests;

    private Origin(WebApplication app) => _app = app;

    public static async Task<Origin> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => { k.Listen(IPAddress.Loopback, 0); k.Limits.MaxRequestBodySize = null; });
        var app = builder.Build();
        var o = new Origin(app);
        app.Use(async (ctx, next) => { Interlocked.Increment(ref o.Requests); await next(ctx); });
        app.MapGet("/bytes/{n:long}", (long n) => Results.Bytes(Bodies.Make(n), "application/octet-stream"));
        app.MapGet("/api/bytes/{n:long}", (long n) => Results.Bytes(Bodies.Make(n), "application/octet-stream"));
        app.MapGet("/json", () => Results.Json(new { hello = "world" }));
        app.MapGet("/api/json", () => Results.Json(new { hello = "api" }));
        app.MapGet("/secret", () => "secret");
        app.MapGet("/nocontent", () => Results.NoContent());
        app.MapGet("/status/{code:int}", (int code) => Results.Text("status " + code, statusCode: code));
        app.MapGet("/headers", (HttpRequest r) => Results.Json(r.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString())));
        app.MapMethods("/echo", ["POST", "PUT", "PATCH"], async (HttpRequest r) =>
        {
            var ms = new MemoryStream();
            await r.Body.CopyToAsync(ms);
            return Results.Bytes(ms.ToArray(), r.ContentType ?? "application/octet-stream");
        });
        app.MapGet("/slow", async (int ms, CancellationToken ct) => { await Task.Delay(ms, ct); return "slow done"; });
        app.MapGet("/wait-abort", async (CancellationToken ct) =>
        {
            o.WaitStarted.TrySetResult();
            try { await Task.Delay(TimeSpan.FromSeconds(30), ct); }
            catch (OperationCanceledException) { o.WaitAborted.TrySetResult(); throw; }
            return "not aborted";
        });
        await app.StartAsync();
        var address = app.Urls.First();
        o.Uri = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return o;
    }

    public static int DeadPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A connected channel pair: in memory, or our RTCPeerConnection ↔ RTCPeerConnection on 127.0.0.1.</summary>
internal sealed class Link : IAsyncDisposable
{
    public required IMessageChannel Client { get; init; }
    public required IMessageChannel Device { get; init; }
    private RTCPeerConnection? _a, _b;

    public static Task<Link> CreateAsync(string kind, long maxMessageSize = 262_144, List<string>? log = null) => kind switch
    {
        "memory" => Task.FromResult(Memory(maxMessageSize)),
        "webrtc" => WebRtcAsync(log ?? []),
        _ => throw new ArgumentException(kind),
    };

    public static Link Memory(long maxMessageSize = 262_144, string protocol = "")
    {
        var (a, b) = InMemoryMessageChannel.CreatePair(maxMessageSize, protocol: protocol);
        return new Link { Client = a, Device = b };
    }

    private static async Task<Link> WebRtcAsync(List<string> log)
    {
        var config = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        var a = new RTCPeerConnection(config, new RTCPeerConnectionOptions { Logger = LineLogger.To(log, "A: ") });
        var b = new RTCPeerConnection(config, new RTCPeerConnectionOptions { Logger = LineLogger.To(log, "B: ") });
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += ch => remote.TrySetResult(ch);
        var ch = a.CreateDataChannel("http-proxy");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ch.WaitOpenAsync(cts.Token);
        var dev = await remote.Task.WaitAsync(cts.Token);
        return new Link { Client = ch, Device = dev, _a = a, _b = b };
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Device.DisposeAsync();
        if (_a is not null) await _a.DisposeAsync();
        if (_b is not null) await _b.DisposeAsync();
    }
}

/// <summary>Origin + device (proxy) + client handler over one link.</summary>
internal sealed class Rig : IAsyncDisposable
{
    public required Origin Origin { get; init; }
    public required Link Link { get; init; }
    public required PeerFetchDevice Device { get; init; }
    public required HttpClient Http { get; init; }
    public required PeerFetchHandler Handler { get; init; }
    public required Task Serving { get; init; }
    public required CancellationTokenSource Stop { get; init; }
    public List<string> Log { get; } = [];

    public static async Task<Rig> StartAsync(string kind, Func<Origin, IReadOnlyList<PeerFetchOrigin>>? origins = null,
        PeerFetchDeviceOptions? options = null, long maxMessageSize = 262_144, PeerFetchClientOptions? clientOptions = null)
    {
        var log = new List<string>();
        var origin = await Origin.StartAsync();
        var link = await Link.CreateAsync(kind, maxMessageSize, log);
        var logger = LineLogger.To(log, "device: ");
        var device = PeerFetchDevice.CreateProxy(origins?.Invoke(origin) ?? [new PeerFetchOrigin(origin.Uri)], (options ?? new PeerFetchDeviceOptions()) with { Logger = logger });
        var stop = new CancellationTokenSource();
        var serving = Task.Run(() => device.ServeAsync(link.Device, "peer-1", stop.Token));
        var handler = new PeerFetchHandler(link.Client, clientOptions);
        var http = new HttpClient(handler) { BaseAddress = new Uri($"http://localhost:{origin.Uri.Port}/"), Timeout = TimeSpan.FromSeconds(120) };
        var rig = new Rig { Origin = origin, Link = link, Device = device, Http = http, Handler = handler, Serving = serving, Stop = stop };
        rig.Log.AddRange(log);
        return rig;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Stop.CancelAsync();
        try { await Serving.WaitAsync(TimeSpan.FromSeconds(10)); } catch (OperationCanceledException) { }
        Device.Dispose();
        await Link.DisposeAsync();
        await Origin.DisposeAsync();
        Stop.Dispose();
    }
}
