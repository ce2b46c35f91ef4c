using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.PeerFetch;

namespace OspBridge.Bench;

/// <summary>
/// Issue 11 "must show" 4: PeerFetch throughput on loopback in one process, all against the same Kestrel origin on
/// 127.0.0.1 and the same <see cref="PeerFetchDevice"/> proxy:
/// <list type="bullet">
/// <item><b>direct</b>: HttpClient (SocketsHttpHandler, HTTP/1.1) straight to the origin — the baseline;</item>
/// <item><b>v2 / LP2P data channel</b>: PeerFetchHandler → LP2P data channel <c>http-proxy</c> (a real QUIC
/// connection on loopback, OSP + LP2P set up) → device → origin;</item>
/// <item><b>v2 / LP2P QUIC</b>: PeerFetchHandler → LP2P QUIC transport (q2q, one stream per request) → device → origin;</item>
/// <item><b>v1</b>: the same data channel with a v1-only device (one request in flight, whole bodies).</item>
/// </list>
/// Rows: 64 concurrent GETs of 1 KiB (median req/s of <c>rounds</c> blocks of 16 × 64 requests, CPU µs and KiB per request),
/// and one 200 MiB download (MB/s). <c>dotnet run -c Release --project bench/OspBridge.Bench -- peerfetch [rounds] [megabytes]</c>;
/// <c>peerfetch-small [blocks] [paths]</c> measures the small GETs alone, the paths interleaved (see <see cref="RunSmall"/>).
/// </summary>
public static class PeerFetchBench
{
    private static readonly byte[] Small = MakeBytes(1024, 1);
    private static readonly byte[] Block = MakeBytes(1 << 20, 2);

    private static byte[] MakeBytes(int n, int seed)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)((i * 31) + seed + (i / 251));
        return b;
    }

    public static int Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 40;
        int megabytes = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        // Optional third argument: run only some paths (comma list of direct, rawdc, dc, rawq2q, q2q, v1) — for profiling one path.
        var only = args.Length > 2 ? new HashSet<string>(args[2].Split(','), StringComparer.OrdinalIgnoreCase) : null;
        return RunAsync(rounds, megabytes, only).GetAwaiter().GetResult();
    }

    /// <summary>
    /// <c>peerfetch-small [blocks] [paths] [pairs]</c>: issue 11's small-GET row alone, the paths interleaved. All paths
    /// (direct, dc, q2q, v1; default direct,dc,q2q) are set up against the same origin and device, warmed up together until
    /// the JIT is idle, then measured in <c>blocks</c> (default 20) passes; each pass runs one block (16 × 64 concurrent
    /// 1 KiB GETs) of every path, back to back, the order rotating from pass to pass — so a load change on the shared
    /// machine hits all paths alike, and each PeerFetch block has a direct block next to it in time. Prints per path
    /// the median block req/s (range), median CPU µs/req and KiB allocated/req (the process: client, device and origin),
    /// and the median of the per-pass ratios to direct, with the load average before and after.
    /// </summary>
    public static int RunSmall(string[] args)
    {
        int blocks = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var paths = (args.Length > 1 ? args[1] : "direct,dc,q2q").Split(',', StringSplitOptions.RemoveEmptyEntries);
        return RunSmallAsync(blocks, paths).GetAwaiter().GetResult();
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static async Task<int> RunSmallAsync(int blocks, string[] paths)
    {
        await using var origin = await StartOriginAsync();
        var originUri = new Uri(origin.Urls.First());
        var (device, v1Device) = CreateDevices(originUri);
        using var _d = device;
        using var _v1 = v1Device;
        using var stop = new CancellationTokenSource();
        var (listener, peer) = await StartDeviceListenerAsync();
        await using var _l = listener;
        var serving = new List<Task>();
        _ = Task.Run(async () =>
        {
            var connection = await listener.Receiver.AcceptConnectionAsync(stop.Token);
            await foreach (var channel in connection!.AcceptDataChannelsAsync(stop.Token))
                serving.Add(channel.Label == "v1" ? v1Device.ServeAsync(channel, "bench", stop.Token) : device.ServeAsync(channel, "bench", stop.Token));
        });
        _ = Task.Run(async () =>
        {
            var transport = await listener.AcceptTransportAsync(stop.Token);
            serving.Add(device.ServeAsync(new Lp2pQuicPeerFetchConnection(transport), "bench", stop.Token));
        });
        var request = new LP2PRequest(new LP2PRequestOptions { Agent = Agent("Bench Client"), Peer = peer });
        await using var lp2p = await request.StartAsync();
        var baseUri = new Uri($"http://localhost:{originUri.Port}/");

        var clients = new List<(string Path, string Name, HttpClient Http)>();
        foreach (var path in paths)
        {
            switch (path)
            {
                case "direct":
                    clients.Add((path, "direct HTTP/1.1 (loopback)", new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, UseProxy = false }) { BaseAddress = originUri }));
                    break;
                case "dc":
                    clients.Add((path, "PeerFetch v2, LP2P data channel", new HttpClient(new PeerFetchHandler(await lp2p.CreateDataChannelAsync("http-proxy"), ClientOptions())) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan }));
                    break;
                case "q2q":
                    clients.Add((path, "PeerFetch v2, LP2P QUIC (stream per request)", new HttpClient(new PeerFetchHandler(new Lp2pQuicPeerFetchConnection(await LP2PQuicTransport.ConnectAsync(lp2p)))) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan }));
                    break;
                case "v1":
                    clients.Add((path, "PeerFetch v1 semantics, LP2P data channel", new HttpClient(new PeerFetchHandler(await lp2p.CreateDataChannelAsync("v1"))) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan }));
                    break;
                default:
                    throw new ArgumentException($"unknown path '{path}' (direct, dc, q2q, v1)");
            }
        }

        // Warm-up (same rule as MeasureAsync): ≥ 3 s of small GETs over every path, then passes until the JIT is idle.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed < TimeSpan.FromSeconds(3); i++)
            foreach (var c in clients) await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => GetSmallAsync(c.Http)));
        await WarmUntilJitIdleAsync(10, async () =>
        {
            foreach (var c in clients) await SmallBlockAsync(c.Http);
        });

        string loadBefore = LoadAverage();
        var results = clients.ToDictionary(c => c.Path, _ => new List<(double Rps, double CpuUs, double AllocBytes)>());
        for (int b = 0; b < blocks; b++)
        {
            for (int k = 0; k < clients.Count; k++)
            {
                var c = clients[(b + k) % clients.Count];
                results[c.Path].Add(await SmallBlockAsync(c.Http));
            }
        }
        string loadAfter = LoadAverage();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"small GETs made in all (warm-up included): {Interlocked.Read(ref _smallGets)}"));

        await stop.CancelAsync();
        foreach (var c in clients) c.Http.Dispose();
        await Task.WhenAll(serving).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"64 concurrent 1 KiB GETs, {blocks} interleaved passes of one {BlockRounds * 64}-request block per path; load average {loadBefore} before, {loadAfter} after"));
        Console.WriteLine();
        Console.WriteLine("| Path | req/s, median of blocks (range) | CPU µs/req (median) | alloc KiB/req (median) | ratio to direct, median of passes (range) |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        var direct = results.TryGetValue("direct", out var d) ? d : null;
        foreach (var c in clients)
        {
            var r = results[c.Path];
            string ratio = "–";
            if (direct is not null && c.Path != "direct")
            {
                var ratios = r.Select((x, i) => x.Rps / direct[i].Rps).ToArray();
                ratio = string.Create(CultureInfo.InvariantCulture, $"{Median(ratios):0.00} ({ratios.Min():0.00}–{ratios.Max():0.00}; {ratios.Count(x => x >= 0.5)}/{ratios.Length} ≥ 0.5)");
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c.Name} | {Median(r.Select(x => x.Rps)):0} ({r.Min(x => x.Rps):0}–{r.Max(x => x.Rps):0}) | {Median(r.Select(x => x.CpuUs)):0} | {Median(r.Select(x => x.AllocBytes)) / 1024:0.0} | {ratio} |"));
        }
        return 0;
    }

    private static async Task<WebApplication> StartOriginAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/small", () => Results.Bytes(Small, "application/octet-stream"));
        app.MapGet("/big/{mb:int}", async (int mb, HttpResponse r) =>
        {
            r.ContentType = "application/octet-stream";
            r.ContentLength = (long)mb << 20;
            for (int i = 0; i < mb; i++) await r.Body.WriteAsync(Block);
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>The device (v2 + v1) and a v1-only device, both proxying to <paramref name="originUri"/> without per-peer limits.</summary>
    private static (PeerFetchDevice Device, PeerFetchDevice V1Device) CreateDevices(Uri originUri)
    {
        var origins = new[] { new PeerFetchOrigin(originUri) };
        var unlimited = new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0, MaxConcurrentRequestsPerPeer = 1024 };
        return (PeerFetchDevice.CreateProxy(origins, unlimited), PeerFetchDevice.CreateProxy(origins, unlimited with { EnableV2 = false }));
    }

    /// <summary>The device's LP2P receiver on loopback (OSP and q2q on one port), and how a client names it.</summary>
    private static async Task<(LP2PQuicTransportListener Listener, OspAgentInfo Peer)> StartDeviceListenerAsync()
    {
        var server = Agent("Bench Device");
        var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions { Agent = server, ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        await listener.Ready;
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Bench Device", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        return (listener, peer);
    }

    private static OspAgentOptions Agent(string name) => new()
    {
        Identity = AgentIdentity.CreateEphemeral(name),
        DisplayName = name,
        // PEERFETCH_BENCH_MAXSTREAMS=n: the device's stream limit (q2q MAX_STREAMS; default 100) — A/B of stream credit.
        MaxDataChannels = int.TryParse(Environment.GetEnvironmentVariable("PEERFETCH_BENCH_MAXSTREAMS"), CultureInfo.InvariantCulture, out int streams) ? streams : 100,
        AuthenticationGracePeriod = TimeSpan.FromSeconds(5),
        RequireAuthentication = false, // transport throughput only; pairing is measured by `pairing`
        // Session 17: the LP2P (OSP) connection carries nothing while the q2q rows run on their own QUIC connection; with
        // no keep-alive (the agent default) it idled out after 30 s and the next data channel failed with "the connection
        // is closed (application error 0)". The Bridge's sessions set a keep-alive the same way (OspPairing).
        KeepAliveInterval = TimeSpan.FromSeconds(10),
    };

    private static async Task<int> RunAsync(int rounds, int megabytes, HashSet<string>? only)
    {
        await using var origin = await StartOriginAsync();
        var originUri = new Uri(origin.Urls.First());
        var rows = new List<string>();

        bool Run(string path) => only is null || only.Contains(path);

        // Direct HTTP/1.1.
        if (Run("direct"))
        {
            using var direct = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, UseProxy = false }) { BaseAddress = originUri };
            rows.Add(await MeasureAsync("direct HTTP/1.1 (loopback)", direct, rounds, megabytes));
        }

        // The device (v2 + v1) and one v1-only device, both proxying to the origin.
        var (device, v1Device) = CreateDevices(originUri);
        using var _d = device;
        using var _v1 = v1Device;

        // One LP2P receiver (OSP + q2q on one port), one LP2P connection from the client.
        using var stop = new CancellationTokenSource();
        var (listener, peer) = await StartDeviceListenerAsync();
        await using var _l = listener;
        var serving = new List<Task>();
        var accepting = Task.Run(async () =>
        {
            var connection = await listener.Receiver.AcceptConnectionAsync(stop.Token);
            await foreach (var channel in connection!.AcceptDataChannelsAsync(stop.Token))
                serving.Add(channel.Label switch
                {
                    "v1" => v1Device.ServeAsync(channel, "bench", stop.Token),
                    "raw" => RawChannelSendAsync(channel, (long)megabytes << 20, stop.Token),
                    _ => device.ServeAsync(channel, "bench", stop.Token),
                });
        });
        var acceptingQuic = Task.Run(async () =>
        {
            var transport = await listener.AcceptTransportAsync(stop.Token);
            serving.Add(device.ServeAsync(new Lp2pQuicPeerFetchConnection(transport), "bench", stop.Token));
            // A second q2q transport (if the raw row asks for one): each accepted stream gets the bytes, no PeerFetch.
            var raw = await listener.AcceptTransportAsync(stop.Token);
            serving.Add(RawQuicServeAsync(raw, (long)megabytes << 20, stop.Token));
        });
        var request = new LP2PRequest(new LP2PRequestOptions { Agent = Agent("Bench Client"), Peer = peer });
        await using var lp2p = await request.StartAsync();
        var baseUri = new Uri($"http://localhost:{originUri.Port}/");

        if (Run("rawdc") && megabytes > 0)
        {
            rows.Add(await MeasureRawAsync("raw LP2P data channel (no PeerFetch)", megabytes, async () =>
            {
                var channel = await lp2p.CreateDataChannelAsync("raw");
                long total = 0;
                while (await channel.ReceiveAsync() is { } m)
                {
                    total += m.Data.Length;
                    channel.Release(m);
                    if (total >= (long)megabytes << 20) break;
                }

                await channel.DisposeAsync();
                return total;
            }));
        }

        if (Run("dc"))
        {
            var dc = await lp2p.CreateDataChannelAsync("http-proxy");
            using var http = new HttpClient(new PeerFetchHandler(dc, ClientOptions())) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
            rows.Add(await MeasureAsync("PeerFetch v2, LP2P data channel", http, rounds, megabytes));
        }

        // Session 16 saw opening the v1 channel after the q2q row fail with "the connection is closed (application error
        // 0)". Session 17: not the handler's dispose (closing a q2q transport leaves its LP2P connection open, see
        // LP2PQuicTransportTests) but the LP2P connection's idle timeout during a long q2q row; the agents now keep alive.
        if (Run("v1"))
        {
            var v1 = await lp2p.CreateDataChannelAsync("v1");
            var v1Handler = new PeerFetchHandler(v1);
            using var http = new HttpClient(v1Handler) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
            // v1 cannot carry a 200 MiB body in one message: the small-GET row only (64 "concurrent" = queued, one in flight).
            rows.Add(await MeasureAsync($"PeerFetch v1 semantics ({await v1Handler.ConnectAsync()}), LP2P data channel", http, Math.Max(1, rounds / 4), 0));
        }

        var quic = Run("q2q") || Run("rawq2q") ? await LP2PQuicTransport.ConnectAsync(lp2p) : null;
        if (Run("rawq2q") && megabytes > 0)
        {
            var rawQuic = await LP2PQuicTransport.ConnectAsync(lp2p);
            rows.Add(await MeasureRawAsync("raw LP2P QUIC stream (no PeerFetch)", megabytes, async () =>
            {
                await using var stream = await rawQuic.CreateBidirectionalStreamAsync();
                await stream.WriteAsync(new byte[] { 1 }, completeWrites: true);
                var buffer = new byte[256 << 10];
                long total = 0;
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0) total += n;
                return total;
            }));
        }

        if (Run("q2q"))
        {
            await acceptingQuic.WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
            using var http = new HttpClient(new PeerFetchHandler(new Lp2pQuicPeerFetchConnection(quic!))) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
            rows.Add(await MeasureAsync("PeerFetch v2, LP2P QUIC (stream per request)", http, rounds, megabytes));
        }

        await stop.CancelAsync();
        await Task.WhenAll(serving).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _ = accepting;

        Console.WriteLine();
        Console.WriteLine("| Path | 64 concurrent 1 KiB GETs | one " + megabytes + " MiB GET |");
        Console.WriteLine("|---|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
        return 0;
    }

    private static async Task<string> MeasureAsync(string name, HttpClient http, int rounds, int megabytes)
    {
        // Warm-up: connections, windows and the JIT. The profile (perf + perf map) of the old 3-round warm-up showed the
        // PeerFetch/QUIC code still running QuickJitted/instrumented (tier 0) during the measurement, with clrjit at
        // 12 % of samples, while the direct path runs the framework's precompiled code: warm up by time (≥ 3 s of
        // rounds, tiered compilation settles after 30 calls + 100 ms without new tier-0 code) and with one download.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed < TimeSpan.FromSeconds(3); i++) await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => GetSmallAsync(http)));
        if (megabytes > 0) await DownloadAsync(http, Math.Min(megabytes, 32));
        // Then until the JIT is idle: tier-1 compilations queued by the warm-up ran in the background during the measured
        // download (0.5 s of JIT inside a 0.7 s PeerFetch download, session 13) — on two cores that is the download's CPU.
        // Each pass repeats the warm-up work and waits; it stops when a pass compiled (almost) nothing (at most 10 passes).
        await WarmUntilJitIdleAsync(10, async () =>
        {
            await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => GetSmallAsync(http)));
            if (megabytes > 0) await DownloadAsync(http, Math.Min(megabytes, 32));
        });

        // PEERFETCH_BENCH_TYPES=1: the types behind the small GETs' allocations (GCAllocationTick samples).
        using var types = Environment.GetEnvironmentVariable("PEERFETCH_BENCH_TYPES") == "1" ? new QuicAllocationListener() : null;
        types?.Enable();
        // Small GETs in blocks of BlockRounds × 64 requests (each block 0.05–0.5 s): the row gives the median block's
        // req/s (and the range), CPU µs and KiB allocated per request over all blocks (session 16: one 0.03–0.1 s
        // sample of 640 requests scattered 2× between identical runs).
        var small = await SmallBlocksAsync(http, rounds);
        types?.Disable();
        int requests = rounds * BlockRounds * 64;
        if (types is not null)
            foreach (var (type, bytes) in types.Top(15)) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {name}: {bytes / (double)Math.Max(1, requests):0} B/req {type}"));
        var sw = new Stopwatch();
        string big = "–";
        if (megabytes > 0)
        {
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
            var pause0 = GC.GetTotalPauseDuration();
            var jit0 = System.Runtime.JitInfo.GetCompilationTime();
            sw.Restart();
            long total = await DownloadAsync(http, megabytes);
            sw.Stop();
            if (total != (long)megabytes << 20) throw new InvalidOperationException($"{name}: got {total} bytes");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
            double allocPerMb = (GC.GetTotalAllocatedBytes(precise: false) - alloc0) / (total / 1e6) / 1e6;
            var pause = GC.GetTotalPauseDuration() - pause0;
            var jit = System.Runtime.JitInfo.GetCompilationTime() - jit0;
            // CPU seconds per GB (both ends, origin included: one process) — steadier than MB/s on a shared machine;
            // JIT: compilation time spent during the download (tiering still at work = not yet steady state).
            big = string.Create(CultureInfo.InvariantCulture, $"{total / 1e6 / sw.Elapsed.TotalSeconds:0.0} MB/s ({sw.Elapsed.TotalSeconds:0.00} s, CPU {cpu.TotalSeconds / (total / 1e9):0.0} s/GB, alloc {allocPerMb:0.0} MB/MB, GC pause {pause.TotalMilliseconds:0} ms, JIT {jit.TotalMilliseconds:0} ms)");
        }
        string line = string.Create(CultureInfo.InvariantCulture, $"| {name} | {small.MedianRps:0} req/s (median of {rounds} blocks of {BlockRounds * 64}: {small.MinRps:0}–{small.MaxRps:0}; CPU {small.CpuUs:0} µs/req, alloc {small.AllocBytes / 1024:0.0} KiB/req) | {big} |");
        Console.WriteLine(line);
        return line;
    }

    /// <summary>Rounds of 64 concurrent GETs in one measured block of small GETs (1024 requests).</summary>
    private const int BlockRounds = 16;

    /// <summary>Small-GET figures over some blocks: the median, least and most block req/s; CPU µs and bytes allocated per request over all of them.</summary>
    private readonly record struct SmallFigures(double MedianRps, double MinRps, double MaxRps, double CpuUs, double AllocBytes, double[] BlockRps);

    /// <summary>One block: <see cref="BlockRounds"/> rounds of 64 concurrent 1 KiB GETs; req/s, CPU µs/req and bytes allocated/req.</summary>
    private static async Task<(double Rps, double CpuUs, double AllocBytes)> SmallBlockAsync(HttpClient http)
    {
        var cpu0 = Environment.CpuUsage.TotalTime;
        long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < BlockRounds; r++) await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => GetSmallAsync(http)));
        sw.Stop();
        double n = BlockRounds * 64;
        return (n / sw.Elapsed.TotalSeconds, (Environment.CpuUsage.TotalTime - cpu0).TotalMilliseconds * 1000 / n, (GC.GetTotalAllocatedBytes(precise: false) - alloc0) / n);
    }

    private static async Task<SmallFigures> SmallBlocksAsync(HttpClient http, int blocks)
    {
        blocks = Math.Max(1, blocks);
        var rps = new double[blocks];
        double cpu = 0, alloc = 0;
        for (int b = 0; b < blocks; b++)
        {
            var (r, c, a) = await SmallBlockAsync(http);
            rps[b] = r;
            cpu += c;
            alloc += a;
        }
        return new SmallFigures(Median(rps), rps.Min(), rps.Max(), cpu / blocks, alloc / blocks, rps);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>
    /// The transport alone: the far end pushes <paramref name="megabytes"/> MiB in 255 KiB messages (data channel) or
    /// 256 KiB stream writes (QUIC) — PeerFetch's chunk size — and <paramref name="receive"/> counts them. One warm-up
    /// pass, then one measured pass; same figures as the download column.
    /// </summary>
    private static async Task<string> MeasureRawAsync(string name, int megabytes, Func<Task<long>> receive)
    {
        // Warm-up: windows, the JIT — repeated (at most 5 passes) until a pass compiled (almost) nothing, like MeasureAsync.
        await WarmUntilJitIdleAsync(5, receive);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
        var pause0 = GC.GetTotalPauseDuration();
        var sw = Stopwatch.StartNew();
        long total = await receive();
        sw.Stop();
        if (total != (long)megabytes << 20) throw new InvalidOperationException($"{name}: got {total} bytes");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        double allocPerMb = (GC.GetTotalAllocatedBytes(precise: false) - alloc0) / (total / 1e6) / 1e6;
        var pause = GC.GetTotalPauseDuration() - pause0;
        string line = string.Create(CultureInfo.InvariantCulture, $"| {name} | – | {total / 1e6 / sw.Elapsed.TotalSeconds:0.0} MB/s ({sw.Elapsed.TotalSeconds:0.00} s, CPU {cpu.TotalSeconds / (total / 1e9):0.0} s/GB, alloc {allocPerMb:0.0} MB/MB, GC pause {pause.TotalMilliseconds:0} ms) |");
        Console.WriteLine(line);
        return line;
    }

    /// <summary>
    /// Runs <paramref name="pass"/> (then waits 300 ms for background tier-1 compilation) until a pass compiled less
    /// than 5 ms of code, at most <paramref name="maxPasses"/> times: the measurement that follows runs steady code.
    /// </summary>
    private static async Task WarmUntilJitIdleAsync(int maxPasses, Func<Task> pass)
    {
        for (int i = 0; i < maxPasses; i++)
        {
            var before = System.Runtime.JitInfo.GetCompilationTime();
            await pass();
            await Task.Delay(300);
            if ((System.Runtime.JitInfo.GetCompilationTime() - before).TotalMilliseconds < 5) return;
        }
    }

    private const int RawChunk = 255 << 10;

    private static async Task RawChannelSendAsync(LP2PDataChannel channel, long bytes, CancellationToken cancellationToken)
    {
        try
        {
            // The no-copy send path (SendPooledAsync: the channel frames the pooled array in place). Like the raw QUIC
            // row, which writes one chunk over and over, the producer's own writing is left out: an array is filled
            // the first time the pool hands it out (a re-rented array still holds the bytes; the channel only writes
            // its header into the room in front).
            var chunk = MakeBytes(RawChunk, 3);
            var filled = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
            int room = channel.SendHeaderRoom;
            for (long sent = 0; sent < bytes; sent += RawChunk)
            {
                int length = (int)Math.Min(RawChunk, bytes - sent);
                byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(room + RawChunk);
                if (filled.Add(buffer)) chunk.CopyTo(buffer, room);
                await channel.SendPooledAsync(buffer, room, length, isText: false, cancellationToken);
            }
            // The receiver closes when it has everything; wait for that, then let go of the channel.
            while (await channel.ReceiveAsync(cancellationToken) is { } m) channel.Release(m);
            await channel.DisposeAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or OspBridge.Osp.OspException)
        {
        }
    }

    private static async Task RawQuicServeAsync(LP2PQuicTransport transport, long bytes, CancellationToken cancellationToken)
    {
        var chunk = MakeBytes(256 << 10, 4);
        try
        {
            while (true)
            {
                var stream = await transport.AcceptStreamAsync(cancellationToken);
                await using (stream)
                {
                    var one = new byte[1];
                    while (await stream.ReadAsync(one, cancellationToken) > 0)
                    {
                    }

                    for (long sent = 0; sent < bytes; sent += chunk.Length)
                        await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - sent)), cancellationToken);
                    await stream.WriteAsync(ReadOnlyMemory<byte>.Empty, completeWrites: true, cancellationToken);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or OspBridge.Quic.QuicException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Client windows: defaults unless <c>PEERFETCH_BENCH_WINDOW=stream,channel</c> (KiB) says otherwise (for A/B of window sizes).</summary>
    private static PeerFetchClientOptions? ClientOptions()
    {
        if (Environment.GetEnvironmentVariable("PEERFETCH_BENCH_WINDOW") is not { Length: > 0 } w) return null;
        var parts = w.Split(',');
        return new PeerFetchClientOptions
        {
            StreamWindow = int.Parse(parts[0], CultureInfo.InvariantCulture) << 10,
            ChannelWindow = int.Parse(parts[1], CultureInfo.InvariantCulture) << 10,
        };
    }

    private static async Task<long> DownloadAsync(HttpClient http, int megabytes)
    {
        using var response = await http.GetAsync($"big/{megabytes}", HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[256 << 10];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0) total += n;
        return total;
    }

    /// <summary>Small GETs made by this process so far (warm-up included): with <c>OSPBRIDGE_QUIC_STATS=1</c>, packets per request.</summary>
    private static long _smallGets;

    private static async Task GetSmallAsync(HttpClient http)
    {
        Interlocked.Increment(ref _smallGets);
        var b = await http.GetByteArrayAsync("small");
        if (b.Length != Small.Length) throw new InvalidOperationException("short body");
    }
}
