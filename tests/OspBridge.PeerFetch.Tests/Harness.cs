using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Channels;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.PeerFetch.Streams;
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
        app.MapGet("/stream/{n:long}", async (long n, HttpResponse r) =>
        {
            r.ContentType = "application/octet-stream";
            r.ContentLength = n;
            var chunk = StreamChunk;
            for (long sent = 0; sent < n; sent += chunk.Length)
                await r.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, n - sent)));
        });
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
        // How a request body reached the origin: its Content-Length and Transfer-Encoding headers and the bytes read.
        app.MapMethods("/framing", ["POST", "PUT"], async (HttpRequest r) =>
        {
            var ms = new MemoryStream();
            await r.Body.CopyToAsync(ms);
            return Results.Json(new Dictionary<string, string>
            {
                ["content-length"] = r.Headers.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
                ["transfer-encoding"] = r.Headers.TransferEncoding.ToString(),
                ["read"] = ms.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
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

    /// <summary>/stream/n repeats this 1 MiB block (large bodies without large buffers).</summary>
    public static readonly byte[] StreamChunk = Bodies.Make(1 << 20, seed: 5);

    /// <summary>SHA-256 of /stream/<paramref name="n"/>.</summary>
    public static byte[] StreamHash(long n)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long sent = 0; sent < n; sent += StreamChunk.Length) sha.AppendData(StreamChunk, 0, (int)Math.Min(StreamChunk.Length, n - sent));
        return sha.GetHashAndReset();
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

/// <summary>
/// A connected pair: a message channel in memory, our RTCPeerConnection ↔ RTCPeerConnection on 127.0.0.1, or ("quic")
/// an LP2P QUIC transport (ALPN q2q, LP2P connection + grant first) on 127.0.0.1 with one stream per request.
/// </summary>
internal sealed class Link : IAsyncDisposable
{
    public IMessageChannel Client { get; init; } = null!;
    public IMessageChannel Device { get; init; } = null!;
    public IPeerFetchStreamConnection? ClientStreams { get; init; }
    public IPeerFetchStreamConnection? DeviceStreams { get; init; }
    private RTCPeerConnection? _a, _b;
    private LP2PQuicTransportListener? _listener;

    public static Task<Link> CreateAsync(string kind, long maxMessageSize = 262_144, List<string>? log = null) => kind switch
    {
        "memory" => Task.FromResult(Memory(maxMessageSize)),
        "webrtc" => WebRtcAsync(log ?? []),
        "quic" => QuicAsync(),
        _ => throw new ArgumentException(kind),
    };

    internal static OspAgentOptions Agent(string name) => new()
    {
        Identity = AgentIdentity.CreateEphemeral(name),
        DisplayName = name,
        AuthenticationGracePeriod = TimeSpan.FromSeconds(5),
        RequireAuthentication = false, // a transport-level link: no PIN pairing in these tests (LP2P authentication is tested in Osp)
    };

    /// <summary>The device listens (LP2P receiver accepting q2q); the client makes the LP2P connection, then the q2q transport.</summary>
    public static async Task<Link> QuicAsync(ILP2PGrantPolicy? grants = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = Agent("Device");
        var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions
        {
            Agent = server,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Grants = grants ?? LP2PGrantPolicies.AllowAll,
        }, cts.Token);
        try
        {
            await listener.Ready;
            var at = listener.Receiver.LocalEndPoint;
            var peer = new OspAgentInfo("Device", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
                new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
            var incoming = listener.AcceptTransportAsync(cts.Token).AsTask();
            var client = await LP2P.ConnectAsync(new LP2PRequestOptions { Agent = Agent("Controller"), Peer = peer }, null, cts.Token);
            var device = await incoming.WaitAsync(cts.Token);
            return new Link { ClientStreams = new Lp2pQuicPeerFetchConnection(client), DeviceStreams = new Lp2pQuicPeerFetchConnection(device), _listener = listener };
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
    }

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
        if (Client is not null) await Client.DisposeAsync();
        if (Device is not null) await Device.DisposeAsync();
        if (ClientStreams is not null) await ClientStreams.DisposeAsync();
        if (DeviceStreams is not null) await DeviceStreams.DisposeAsync();
        if (_listener is not null) await _listener.DisposeAsync();
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
    /// <summary>The device's log lines (access log included), live.</summary>
    public List<string> Log { get; private init; } = [];

    /// <summary>The access-log lines so far (a snapshot, taken under the log's lock).</summary>
    public List<string> AccessLog() { lock (Log) return Log.Where(l => l.Contains("peerfetch peer-1", StringComparison.Ordinal)).ToList(); }

    public static async Task<Rig> StartAsync(string kind, Func<Origin, IReadOnlyList<PeerFetchOrigin>>? origins = null,
        PeerFetchDeviceOptions? options = null, long maxMessageSize = 262_144, PeerFetchClientOptions? clientOptions = null)
    {
        var log = new List<string>();
        var origin = await Origin.StartAsync();
        var link = await Link.CreateAsync(kind, maxMessageSize, log);
        var logger = LineLogger.To(log, "device: ");
        var device = PeerFetchDevice.CreateProxy(origins?.Invoke(origin) ?? [new PeerFetchOrigin(origin.Uri)], (options ?? new PeerFetchDeviceOptions()) with { Logger = logger });
        var stop = new CancellationTokenSource();
        var serving = link.DeviceStreams is { } streams
            ? Task.Run(() => device.ServeAsync(streams, "peer-1", stop.Token))
            : Task.Run(() => device.ServeAsync(link.Device, "peer-1", stop.Token));
        var handler = link.ClientStreams is { } clientStreams ? new PeerFetchHandler(clientStreams, clientOptions) : new PeerFetchHandler(link.Client, clientOptions);
        var http = new HttpClient(handler) { BaseAddress = new Uri($"http://localhost:{origin.Uri.Port}/"), Timeout = TimeSpan.FromSeconds(120) };
        return new Rig { Origin = origin, Link = link, Device = device, Http = http, Handler = handler, Serving = serving, Stop = stop, Log = log };
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
