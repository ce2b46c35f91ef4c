using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.PeerFetch;
using OspBridge.Testing;
using OspBridge.Testing.Processes;

namespace OspBridge.Bench;

/// <summary>
/// Issue 13 "must show" 3, the last item: <b>N idle paired sessions held</b> by a real <c>ospbridge serve</c> child
/// process. The devices are in this process (<see cref="BridgeLoadBench.DeviceFarm"/>: an LP2P receiver, identity and QUIC
/// listener each; trust written beforehand both ways), advertised over mDNS on lo from one source address per group of
/// <c>perSource</c> agents (127.0.0.10, .11, ...), because the bridge's querier caps the records it keeps per source
/// address (docs/security.md, "mDNS cache") as it would for N real devices at N addresses.
/// <para>
/// Phases: the bridge alone; the devices appear — time until <c>GET /api/devices</c> lists all N online and paired, and
/// until all N sessions are open on the device side (the bridge pre-connects trusted devices; with <c>--no-preconnect</c>
/// or when some are missing, one gateway GET per missing device opens them); then <c>holdSeconds</c> of nothing: the
/// bridge's RSS, CPU seconds and threads (from /proc/&lt;pid&gt;), the sessions still open every 10 s, and the traffic
/// on lo (/proc/net/dev of this network namespace: every packet between bridge and devices, QUIC keep-alives and mDNS
/// refreshes, counted once). Last, one gateway GET to each of 50 devices checks the held sessions still carry requests
/// without reconnecting. The load average is printed with every figure.
/// </para>
/// <c>dotnet OspBridge.Bench.dll bridge-idle [devices=1000] [holdSeconds=60] [perSource=25] [preconnect=1]</c>, in its own
/// network namespace (docs/benchmarks.md).
/// </summary>
internal static class BridgeIdleBench
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(120);

    public static int Run(string[] args)
    {
        int At(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        return RunAsync(At(0, 1000), At(1, 60), At(2, 25), At(3, 1) != 0).GetAwaiter().GetResult();
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>Packets and bytes through lo so far (received side; on lo every packet is counted once each way).</summary>
    private static (long Packets, long Bytes) LoCounters()
    {
        foreach (string line in File.ReadAllLines("/proc/net/dev"))
        {
            string l = line.Trim();
            if (!l.StartsWith("lo:", StringComparison.Ordinal)) continue;
            var f = l[3..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[0], CultureInfo.InvariantCulture));
        }
        return (0, 0);
    }

    private static async Task<int> RunAsync(int devices, int holdSeconds, int perSource, bool preconnect)
    {
        var rows = new List<string>();
        void Row(string what, string value)
        {
            string row = $"| {what} | {value} | {Load()} |";
            rows.Add(row);
            Console.WriteLine(row);
        }

        using var root = new TestDirectory("ospbridge-idle");
        await using var origin = await BridgeLoadBench.StartOriginAsync();
        var originUri = new Uri(origin.Urls.First());

        string bridgeState = root["bridge"];
        var (bridgeFp, identities) = BridgeFarmStartup.WriteIdentitiesAndTrust(bridgeState, devices, "Idle");
        var (serve, url, apiClient) = await BridgeFarmStartup.StartServeAsync(bridgeState, Step, 64, preconnect ? [] : ["--no-preconnect"]);
        await using var serveOwner = serve;
        using var api = apiClient;
        var bridge = new ProcStat(serve.ProcessId);
        var clock = new Stopwatch();
        Row("bridge started, no device advertising", bridge.Sample().ToString());

        var http = PeerFetchDevice.CreateProxy([new PeerFetchOrigin(originUri)],
            new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0, MaxConcurrentRequestsPerPeer = 1024 });
        using var stop = new CancellationTokenSource();
        var benchCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        clock.Restart();
        await using var farm = await BridgeLoadBench.DeviceFarm.StartAsync(identities, bridgeFp, http, stop.Token, perSource);
        double advertised = clock.Elapsed.TotalSeconds;
        Row($"{devices} device agents listening and advertised ({farm.Responders} mDNS source addresses, {perSource} agents each)", $"{advertised:F1} s (bench process)");
        var ids = identities.Select(i => PeerTrust.IdOf(i.Fingerprint)).ToHashSet(StringComparer.Ordinal);
        int seen = await BridgeLoadBench.WaitForDevicesAsync(api, ids, TimeSpan.FromSeconds(120 + devices / 5.0));
        double seenAt = clock.Elapsed.TotalSeconds;
        Row("devices listed online and paired by the bridge (GET /api/devices)", $"{seen} / {devices} at {seenAt:F1} s after the farm started");

        // Sessions: the bridge pre-connects; wait for it, then open any missing one with a gateway GET.
        var wait = Stopwatch.StartNew();
        long lastOpen = -1;
        var lastChange = Stopwatch.StartNew();
        while (farm.Open < devices && wait.Elapsed < TimeSpan.FromSeconds(60 + devices / 4.0) && lastChange.Elapsed < TimeSpan.FromSeconds(preconnect ? 30 : 3))
        {
            await Task.Delay(500);
            if (farm.Open != lastOpen) { lastOpen = farm.Open; lastChange.Restart(); }
        }
        Row("sessions opened by the bridge on its own (device side)", $"{farm.Open} / {devices} open ({farm.Accepted} accepted) at {clock.Elapsed.TotalSeconds:F1} s after the farm started");
        if (farm.Open < devices)
        {
            var gets = Stopwatch.StartNew();
            var opened = await BridgeLoadBench.ForEachDeviceAsync(api, ids, 32);
            Row("one gateway GET per device, 32 at a time (opens the missing sessions)", $"{opened.Ok} / {devices} 200 OK in {gets.Elapsed.TotalSeconds:F1} s (p50 {opened.P50:F1} ms, p99 {opened.P99:F1} ms); device side {farm.Open} open");
        }
        Row($"all online: bridge holding {farm.Open} sessions", $"{clock.Elapsed.TotalSeconds:F1} s after the farm started; bridge {bridge.Sample()}");
        Console.WriteLine($"# bench process CPU so far (devices, origin, client): {(Process.GetCurrentProcess().TotalProcessorTime - benchCpu0).TotalSeconds:F1} s");

        // Idle.
        if (holdSeconds > 0)
        {
            GC.Collect();
            await Task.Delay(5000); // let the connects' stragglers (channel opens, mDNS answers) settle
            long acceptedBefore = farm.Accepted;
            var t0 = bridge.Sample();
            var lo0 = LoCounters();
            var bench0 = Process.GetCurrentProcess().TotalProcessorTime;
            var idle = Stopwatch.StartNew();
            var samples = new List<string>();
            for (int s = 0; s < holdSeconds; s += 10)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, holdSeconds - s)));
                samples.Add($"{s + Math.Min(10, holdSeconds - s)} s: {farm.Open}");
            }
            double secs = idle.Elapsed.TotalSeconds;
            var t1 = bridge.Sample();
            var lo1 = LoCounters();
            var benchCpu = Process.GetCurrentProcess().TotalProcessorTime - bench0;
            Row($"idle {holdSeconds} s: sessions open (device side)", string.Join(", ", samples));
            Row($"bridge during the idle {holdSeconds} s", $"CPU {t1.CpuSeconds - t0.CpuSeconds:F2} s = {(t1.CpuSeconds - t0.CpuSeconds) / secs * 100:F1} % of one core; RSS {t0.RssMiB:F1} → {t1.RssMiB:F1} MiB (peak {t1.PeakMiB:F1}), {t1.Threads} threads");
            Row("traffic on lo while idle (bridge ↔ devices: QUIC keep-alives + mDNS)", $"{(lo1.Packets - lo0.Packets) / secs:F0} packets/s, {(lo1.Bytes - lo0.Bytes) / secs / 1024:F1} KiB/s ({(lo1.Packets - lo0.Packets) / secs / Math.Max(1, devices):F2} packets/s per session)");
            Row("bench process (the devices) during the idle spell", $"CPU {benchCpu.TotalSeconds:F2} s");

            // A window for outside profilers (dotnet-trace, dotnet-gcdump, dotnet-counters, perf) after the measured idle
            // spell, so their own cost is not in the figures above: OSPBRIDGE_BENCH_PROFILE_SECONDS=<s>.
            if (int.TryParse(Environment.GetEnvironmentVariable("OSPBRIDGE_BENCH_PROFILE_SECONDS"), CultureInfo.InvariantCulture, out int profile) && profile > 0)
            {
                Console.WriteLine($"# profile window {profile} s: bridge pid {serve.ProcessId}");
                await Task.Delay(TimeSpan.FromSeconds(profile));
            }

            var sample = ids.Take(50).ToList();
            var check = await BridgeLoadBench.ForEachDeviceAsync(api, sample, 8);
            Row($"after the idle spell: one gateway GET to each of {sample.Count} devices", $"{check.Ok} / {sample.Count} 200 OK (p50 {check.P50:F1} ms, p99 {check.P99:F1} ms); sessions opened again during idle + check: {farm.Accepted - acceptedBefore}");
        }

        await stop.CancelAsync();
        if (Environment.GetEnvironmentVariable("OSPBRIDGE_BENCH_SERVE_LOG") == "1") Console.WriteLine(serve.StandardError);
        Console.WriteLine();
        Console.WriteLine($"bridge idle: {devices} device(s), {perSource} per mDNS source, hold {holdSeconds} s, pre-connect {(preconnect ? "on" : "off")}; {Environment.ProcessorCount} cores");
        Console.WriteLine("| What | Figure | load avg (1 min) |");
        Console.WriteLine("|---|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
        return 0;
    }
}
