using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Messages;
using OspBridge.PeerFetch;
using OspBridge.Testing;
using OspBridge.Testing.Http;
using OspBridge.Testing.Processes;

namespace OspBridge.Bench;

/// <summary>
/// Issue 13 "must show" 3 (load) against a real <c>ospbridge serve</c> child process on loopback:
/// <list type="bullet">
/// <item><b>devices</b> paired device agents (LP2P receivers with PeerFetch on <c>http-proxy</c>, advertised over one
/// mDNS responder on lo) hosted in this process; trust is written beforehand both ways (the bridge's trust store lists
/// every device, every device trusts the bridge's fingerprint), so no PIN is typed — pairing is measured by <c>pairing</c>;</item>
/// <item><b>REST gateway</b>: <c>rounds</c> bursts of <c>concurrency</c> concurrent GETs of a 1 KiB JSON, straight to the
/// origin (Kestrel in this process) and through <c>/devices/{id}/http/...</c> of the first device — latency p50/p99,
/// requests/s, the bridge's CPU seconds and RSS;</item>
/// <item><b>junk</b>: that many junk requests (tests/OspBridge.Testing/Http/JunkRequests, 64 at a time) while 16
/// workers keep calling the gateway — their latency and errors during the junk;</item>
/// <item><b>idle sessions</b>: one gateway GET per device opens the bridge's authenticated LP2P session to each (the
/// bridge keeps one per paired device); then nothing for <c>holdSeconds</c>; the bridge's RSS and threads, how many
/// sessions are still open on the device side, and how many had to be opened again by a second GET per device.</item>
/// </list>
/// The bridge's CPU and memory come from /proc/&lt;pid&gt; of the serve process (utime+stime, VmRSS, VmHWM, Threads).
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- bridge [devices=1] [concurrency=200] [rounds=20] [holdSeconds=60] [junk=10000]</c>;
/// run it in its own network namespace so that other mDNS users on lo do not see the devices (docs/benchmarks.md).
/// </summary>
internal static class BridgeLoadBench
{
    internal const string Token = "bench-admin-token-0123456789";
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(120);
    private static readonly byte[] Status = MakeStatus();

    private static byte[] MakeStatus()
    {
        var text = "{\"ok\":true,\"name\":\"doorbell\",\"pad\":\"" + new string('x', 1024 - 40) + "\"}";
        return System.Text.Encoding.UTF8.GetBytes(text);
    }

    public static int Run(string[] args)
    {
        int At(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        return RunAsync(At(0, 1), At(1, 200), At(2, 20), At(3, 60), At(4, 10_000)).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int devices, int concurrency, int rounds, int holdSeconds, int junk)
    {
        var rows = new List<string>();
        void Row(string what, string value)
        {
            string row = $"| {what} | {value} |";
            rows.Add(row);
            Console.WriteLine(row);
        }

        using var root = new TestDirectory("ospbridge-load");
        await using var origin = await StartOriginAsync();
        var originUri = new Uri(origin.Urls.First());

        // Identities and trust both ways, before the bridge starts.
        string bridgeState = root["bridge"];
        var (bridgeFp, identities) = BridgeFarmStartup.WriteIdentitiesAndTrust(bridgeState, devices, "Load");
        var (serve, url, apiClient) = await BridgeFarmStartup.StartServeAsync(bridgeState, Step, Math.Max(concurrency, 64));
        await using var serveOwner = serve;
        using var api = apiClient;
        var bridge = new ProcStat(serve.ProcessId);
        var clock = new Stopwatch();
        var started = bridge.Sample();
        Row("bridge started (no devices)", started.ToString());

        // The devices.
        var http = PeerFetchDevice.CreateProxy([new PeerFetchOrigin(originUri)],
            new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0, MaxConcurrentRequestsPerPeer = 1024 });
        using var stop = new CancellationTokenSource();
        clock.Restart();
        await using var farm = await DeviceFarm.StartAsync(identities, bridgeFp, http, stop.Token);
        Console.WriteLine($"# {devices} devices listening and advertised in {clock.Elapsed.TotalSeconds:F1} s");
        var ids = identities.Select(i => PeerTrust.IdOf(i.Fingerprint)).ToHashSet(StringComparer.Ordinal);
        clock.Restart();
        int seen = await WaitForDevicesAsync(api, ids, TimeSpan.FromSeconds(120 + devices / 5.0));
        Row($"devices seen online and paired by the bridge", $"{seen} / {devices} after {clock.Elapsed.TotalSeconds:F1} s");
        Row("bridge with the devices discovered, no session", bridge.Sample().ToString());
        if (seen == 0) return 1;

        // One session per device: the first gateway GET opens it.
        clock.Restart();
        var firstDevice = ids.First();
        var opened = await ForEachDeviceAsync(api, ids, 32);
        Row("sessions opened (one gateway GET per device, 32 at a time)", $"{opened.Ok} / {ids.Count} 200 OK in {clock.Elapsed.TotalSeconds:F1} s (p50 {opened.P50:F1} ms, p99 {opened.P99:F1} ms); device side: {farm.Accepted} accepted, {farm.Open} open");
        Row($"bridge holding {farm.Open} sessions", bridge.Sample().ToString());

        // REST gateway under load.
        using (var direct = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false }) { BaseAddress = originUri })
        {
            await BurstsAsync(direct, "/api/status", concurrency, 2); // warm-up
            await BurstsAsync(api, $"/devices/{firstDevice}/http/api/status", concurrency, 2);
            var cpu0 = bridge.Sample();
            var benchCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var d = await BurstsAsync(direct, "/api/status", concurrency, rounds);
            var cpu1 = bridge.Sample();
            var g = await BurstsAsync(api, $"/devices/{firstDevice}/http/api/status", concurrency, rounds);
            var cpu2 = bridge.Sample();
            var benchCpu = Process.GetCurrentProcess().TotalProcessorTime - benchCpu0;
            Row($"direct to the origin, {rounds} × {concurrency} concurrent GETs (1 KiB)", d.ToString());
            Row($"through the bridge's REST gateway, {rounds} × {concurrency} concurrent", g.ToString());
            Row("added latency (gateway − direct)", $"p50 +{g.P50 - d.P50:F1} ms, p99 +{g.P99 - d.P99:F1} ms");
            Row("bridge CPU during the gateway bursts", $"{cpu2.CpuSeconds - cpu1.CpuSeconds:F2} s for {g.Count} requests ({(cpu2.CpuSeconds - cpu1.CpuSeconds) / g.Seconds:F2} cores; {1000 * (cpu2.CpuSeconds - cpu1.CpuSeconds) / g.Count:F2} ms/request); during the direct bursts {cpu1.CpuSeconds - cpu0.CpuSeconds:F2} s");
            Row("bench process CPU (client + origin + device) for both", $"{benchCpu.TotalSeconds:F2} s");
            Row("bridge after the gateway bursts", cpu2.ToString());
        }

        // Junk while the gateway is in use.
        if (junk > 0)
        {
            using var anon = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
            using var wrong = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
            wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong-token-wrong-token");
            var before = bridge.Sample();
            using var junkDone = new CancellationTokenSource();
            var legit = Task.Run(() => LoopAsync(api, $"/devices/{firstDevice}/http/api/status", 16, junkDone.Token));
            var sw = Stopwatch.StartNew();
            await JunkRequests.RunAsync(wrong, anon, url, junk, 64);
            double junkSeconds = sw.Elapsed.TotalSeconds;
            await junkDone.CancelAsync();
            var l = await legit;
            var after = bridge.Sample();
            bool alive = (await api.GetAsync("/api/devices")).StatusCode == HttpStatusCode.OK && !serve.HasExited;
            Row($"{junk} junk requests (64 at a time)", $"{junkSeconds:F1} s ({junk / junkSeconds:F0}/s); bridge CPU {after.CpuSeconds - before.CpuSeconds:F2} s; still serving: {(alive ? "yes" : "NO")}");
            Row("gateway GETs during the junk (16 workers)", l.ToString());
            Row("bridge after the junk", after.ToString());
        }

        // Idle sessions held.
        if (holdSeconds > 0)
        {
            long acceptedBefore = farm.Accepted;
            var t0 = bridge.Sample();
            var samples = new List<string>();
            for (int s = 0; s < holdSeconds; s += 10)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, holdSeconds - s)));
                samples.Add($"{s + Math.Min(10, holdSeconds - s)} s: {farm.Open} open");
            }
            var t1 = bridge.Sample();
            Row($"idle {holdSeconds} s with {acceptedBefore} sessions", $"device side {string.Join(", ", samples)}");
            Row("bridge after the idle spell", $"{t1} (CPU while idle {t1.CpuSeconds - t0.CpuSeconds:F2} s)");
            clock.Restart();
            var again = await ForEachDeviceAsync(api, ids, 32);
            Row("one more gateway GET per device", $"{again.Ok} / {ids.Count} 200 OK in {clock.Elapsed.TotalSeconds:F1} s (p50 {again.P50:F1} ms, p99 {again.P99:F1} ms); sessions opened again: {farm.Accepted - acceptedBefore}");
        }

        await stop.CancelAsync();
        Console.WriteLine();
        Console.WriteLine($"bridge load: {devices} device(s), concurrency {concurrency}, {rounds} rounds, hold {holdSeconds} s, {junk} junk; {Environment.ProcessorCount} cores");
        Console.WriteLine("| What | Figure |");
        Console.WriteLine("|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
        return 0;
    }

    internal static async Task<WebApplication> StartOriginAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/api/status", () => Results.Bytes(Status, "application/json"));
        await app.StartAsync();
        return app;
    }

    internal static async Task<int> WaitForDevicesAsync(HttpClient api, HashSet<string> ids, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        int ready = 0;
        while (sw.Elapsed < timeout)
        {
            using var doc = JsonDocument.Parse(await api.GetStringAsync(new Uri("/api/devices", UriKind.Relative)));
            ready = doc.RootElement.EnumerateArray().Count(d => ids.Contains(d.GetProperty("id").GetString()!)
                && d.GetProperty("online").GetBoolean() && d.GetProperty("paired").GetBoolean());
            if (ready == ids.Count) return ready;
            await Task.Delay(1000);
        }
        return ready;
    }

    internal static async Task<Latencies> ForEachDeviceAsync(HttpClient api, IEnumerable<string> ids, int parallel)
    {
        var result = new Latencies();
        using var gate = new SemaphoreSlim(parallel);
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(ids.Select(async id =>
        {
            await gate.WaitAsync();
            try { await result.TimeAsync(api, $"/devices/{id}/http/api/status"); }
            finally { gate.Release(); }
        }));
        result.Seconds = sw.Elapsed.TotalSeconds;
        return result;
    }

    private static async Task<Latencies> BurstsAsync(HttpClient http, string path, int concurrency, int rounds)
    {
        var result = new Latencies();
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < rounds; r++)
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => result.TimeAsync(http, path)));
        result.Seconds = sw.Elapsed.TotalSeconds;
        return result;
    }

    private static async Task<Latencies> LoopAsync(HttpClient http, string path, int workers, CancellationToken until)
    {
        var result = new Latencies();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            while (!until.IsCancellationRequested) await result.TimeAsync(http, path);
        }));
        result.Seconds = sw.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Latencies of successful requests (200 with the whole body) and the count of the others.</summary>
    internal sealed class Latencies
    {
        private readonly List<double> _ms = [];
        private int _failed;
        private string? _firstFailure;

        public double Seconds { get; set; }

        public int Ok { get { lock (_ms) return _ms.Count; } }

        public int Count { get { lock (_ms) return _ms.Count + _failed; } }

        public double P50 => Percentile(0.50);

        public double P99 => Percentile(0.99);

        public async Task TimeAsync(HttpClient http, string path)
        {
            long t0 = Stopwatch.GetTimestamp();
            string? failure;
            try
            {
                using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
                byte[] body = await response.Content.ReadAsByteArrayAsync();
                failure = response.StatusCode == HttpStatusCode.OK && body.Length == Status.Length ? null : $"{(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 200)))}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                failure = ex.GetType().Name + ": " + ex.Message;
            }
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            lock (_ms)
            {
                if (failure is null) _ms.Add(ms);
                else
                {
                    _failed++;
                    _firstFailure ??= failure;
                }
            }
        }

        private double Percentile(double p)
        {
            lock (_ms)
            {
                if (_ms.Count == 0) return double.NaN;
                var sorted = _ms.Order().ToList();
                return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
            }
        }

        public override string ToString() =>
            $"{Ok} OK, {_failed} failed{(_firstFailure is null ? "" : $" (first: {_firstFailure})")}; p50 {P50:F1} ms, p99 {P99:F1} ms; {Ok / Math.Max(Seconds, 1e-9):F0} req/s";
    }

    /// <summary>
    /// Paired device agents in this process: one LP2P receiver each (its own QUIC listener on 127.0.0.1 and identity),
    /// advertised over mDNS on lo — one shared responder, or with <c>perSource</c> &gt; 0 one responder per group of that
    /// many agents, each sending from its own source address 127.0.0.(10+k) (the bridge's querier caps records per source
    /// address, as it would see 1000 real devices at 1000 addresses); each trusts the bridge's fingerprint only (no PIN
    /// pairing) and serves PeerFetch on every data channel.
    /// </summary>
    internal sealed class DeviceFarm : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _owned = [];
        private readonly List<MdnsService> _responders = [];
        private long _accepted;
        private long _open;

        public long Accepted => Interlocked.Read(ref _accepted);

        public long Open => Interlocked.Read(ref _open);

        public int Responders => _responders.Count;

        public static async Task<DeviceFarm> StartAsync(IReadOnlyList<AgentIdentity> identities, string bridgeFingerprint, PeerFetchDevice http, CancellationToken ct, int perSource = 0)
        {
            var farm = new DeviceFarm();
            var trust = new TrustOnly(bridgeFingerprint);
            var advertised = new List<OspAgentAdvertiser>();
            for (int index = 0; index < identities.Count; index++)
            {
                var identity = identities[index];
                if (farm._responders.Count == 0 || (perSource > 0 && index % perSource == 0))
                {
                    int k = farm._responders.Count;
                    farm._responders.Add(MdnsService.Start(new MdnsServiceOptions
                    {
                        Interfaces = ["lo"],
                        UseIPv6 = false,
                        Logger = NullLogger.Instance,
                        SocketFactory = perSource > 0 ? new SourceAddressSocketFactory(new IPAddress([127, 0, (byte)((10 + k) >> 8), (byte)(10 + k)])) : null,
                    }));
                }
                var mdns = farm._responders[^1];
                string name = identity.InstanceName;
                var receiver = new LP2PReceiver(new LP2PReceiverOptions
                {
                    Agent = OspPairing.AgentOptions(identity, name, NullLogger.Instance),
                    ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                    AcceptQuicTransports = false,
                    Authenticate = (connection, token) => OspPairingSession.EstablishAsync(connection, new OspAuthenticationOptions
                    {
                        Identity = identity,
                        IsAdvertiser = true,
                        Capabilities = new AuthCapabilities
                        {
                            PskEaseOfInput = 0,
                            PskInputMethods = [PskInputMethod.Numeric],
                            PskMinBitsOfEntropy = OspPairing.AgentPskBits,
                        },
                    }, NoPin.Instance, trust, new OspPairingPolicy { AllowPairing = false }, token),
                });
                await receiver.StartAsync(ct);
                farm._owned.Add(receiver);
                var advertiser = await OspAgentAdvertiser.StartAsync(mdns, identity, (ushort)receiver.LocalEndPoint.Port, 1, NullLogger.Instance, ct);
                farm._owned.Add(advertiser);
                advertised.Add(advertiser);
                _ = farm.AcceptAsync(receiver, http, ct);
            }
            foreach (var a in advertised)
            {
                try { await a.WaitEstablishedAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct); }
                catch (TimeoutException) { Console.WriteLine($"# {a.InstanceName}: mDNS probing not finished after 30 s"); }
            }
            return farm;
        }

        private async Task AcceptAsync(LP2PReceiver receiver, PeerFetchDevice http, CancellationToken ct)
        {
            try
            {
                await foreach (var connection in receiver.AcceptConnectionsAsync(ct))
                {
                    Interlocked.Increment(ref _accepted);
                    Interlocked.Increment(ref _open);
                    _ = connection.Closed.ContinueWith(_ => Interlocked.Decrement(ref _open), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await foreach (var channel in connection.AcceptDataChannelsAsync(ct))
                                _ = http.ServeAsync(channel, "bridge", ct);
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or Osp.OspException or IOException)
                        {
                        }
                    }, CancellationToken.None);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            for (int i = _owned.Count - 1; i >= 0; i--)
            {
                try { await _owned[i].DisposeAsync(); }
                catch (Exception ex) when (ex is Osp.OspException or ObjectDisposedException or OperationCanceledException) { }
            }
            foreach (var m in _responders) await m.DisposeAsync();
        }
    }

    /// <summary>
    /// Opens the default sockets, but datagrams leave from <paramref name="source"/> (IP_PKTINFO's spec_dst, which only
    /// the batched send path writes — so every send goes through a one-datagram batch). Without it, multicast on lo
    /// leaves from 0.0.0.0 (lo's 127.0.0.1 is host-scoped), so every agent would share one source address.
    /// </summary>
    private sealed class SourceAddressSocketFactory(IPAddress source) : IDatagramSocketFactory
    {
        public IDatagramSocket Open(UdpSocketOptions options) => new Socket(UdpSocketFactory.Default.Open(options), new IPEndPoint(source, 0));

        private sealed class Socket(IDatagramSocket inner, IPEndPoint local) : IDatagramSocket
        {
            private readonly Lock _gate = new();
            private readonly DatagramBatch _one = new(1, 9216);

            public IPEndPoint LocalEndPoint => inner.LocalEndPoint;

            public ValueTask<int> ReceiveAsync(DatagramBatch batch, CancellationToken cancellationToken) => inner.ReceiveAsync(batch, cancellationToken);

            public void Send(ReadOnlySpan<byte> datagram, DatagramPath path)
            {
                lock (_gate)
                {
                    _one.Clear();
                    if (_one.TryAdd(datagram, path with { Local = local })) inner.Send(_one);
                }
            }

            public void Send(DatagramBatch batch)
            {
                for (int i = 0; i < batch.Count; i++) Send(batch[i], batch.PathAt(i));
            }

            public void Dispose() => inner.Dispose();
        }
    }

    /// <summary>A device's trust: the bridge only.</summary>
    internal sealed class TrustOnly(string fingerprint) : IOspTrustStore
    {
        public bool IsTrusted(string fingerprint1) => fingerprint1 == fingerprint;

        public void RecordAuthenticated(string fingerprint1, string? displayName, string? endpoint)
        {
        }

        public void RecordAuthFailure(string fingerprint1, string? displayName, string? endpoint)
        {
        }
    }

    /// <summary>Devices never pair here: no PIN shown or asked.</summary>
    internal sealed class NoPin : IOspPairingHost
    {
        public static readonly NoPin Instance = new();

        public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);

        public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
