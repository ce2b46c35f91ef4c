using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using OspBridge.Interop.Tests.WebRtc;
using OspBridge.WebRtc;

namespace OspBridge.Bench;

/// <summary>
/// Issue 14, Chromium→ours against its reference only, many runs, interleaved:
/// <c>webrtc from [megabytes=50] [runs=8] [chromiumHighWaterKiB=1024] [alternatives, e.g. batch-sack,adaptive-sack:4]</c> (root: network namespaces). The same harness
/// and page as <see cref="WebRtcBench"/> (64 KiB binary messages, the page's bufferedAmount loop), but each run is one
/// fresh Chromium→ours connection (our offer, the page sends on "go"; no ours→Chromium phase before it) and one
/// Chromium↔Chromium transfer, in alternating order (A B, B A, …) so a drift of the machine's load hits both rows alike.
/// Per run: Mbit/s, our process's CPU per GiB and context switches (<see cref="SelfUsage"/>; Chromium's processes are
/// not counted), our SCTP receive counters (DATA packets in, SACKs out, gap SACKs, duplicates, window drops, the
/// smallest a_rwnd we advertised), Chromium's transport packet counters (RTCTransportStats: packets it sent = DATA
/// packets incl. retransmissions, packets it received = our SACKs), and the UDP receive-buffer drops of our namespace
/// (<c>/proc/net/snmp</c> RcvbufErrors). At the end: median, min–max and interquartile range per row, the per-run ratio
/// (run i's Chromium→ours / run i's Chromium↔Chromium) with its median and range, and how many runs were ≥ 1.0.
/// </summary>
internal static class WebRtcFromChromiumBench
{
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    public static int Run(string[] args)
    {
        int mb = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
        int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
        int highKiB = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1024;
        Alts.Clear();
        if (args.Length > 3)
        {
            foreach (var a in args[3].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = a.Split(':');
                int mode = kv[0] switch { "batch-sack" => 1, "pair-sack" => 2, "second-sack" => 3, "adaptive-sack" => 4, "default-sack" => 0, _ => -1 };
                int threshold = kv.Length > 1 ? int.Parse(kv[1], CultureInfo.InvariantCulture) : 0;
                Alts.Add(mode >= 0 ? new Alt(a, 0, mode, threshold) : new Alt(a + " KiB window", int.Parse(a, CultureInfo.InvariantCulture), 0, 0));
            }
        }
        if (mb is < 1 or > 1024 || runs is < 1 or > 100) { Console.Error.WriteLine("webrtc from [megabytes 1..1024] [runs 1..100] [chromiumHighWaterKiB]"); return 2; }
        return RunAsync(mb << 20, runs, highKiB).GetAwaiter().GetResult();
    }

    /// <summary>
    /// What each run adds besides the default Chromium→ours transfer and Chromium↔Chromium (A/B in one invocation; a
    /// comma-separated list): a number = an SCTP receive window (KiB) on our side; "batch-sack", "pair-sack",
    /// "second-sack", "adaptive-sack[:threshold]" (and "default-sack", the default again: an A/A check) = a SACK policy
    /// (<see cref="PeerConnectionCore.BenchSackMode"/> 1, 2, 3, 4, 0; the threshold sets
    /// <see cref="PeerConnectionCore.BenchSackThreshold"/> for that transfer).
    /// </summary>
    private static readonly List<Alt> Alts = [];

    private sealed record Alt(string Name, int WindowKiB, int SackMode, int Threshold);

    private sealed record OneRun(double Mbps, double CpuPerGiB, long Switches, string Detail);

    private static async Task<int> RunAsync(int total, int runs, int highKiB)
    {
        Console.WriteLine($"webrtc from: Chromium→ours vs Chromium↔Chromium, {total >> 20} MiB in {Chunk >> 10} KiB messages, {runs} interleaved run(s), Chromium high-water {highKiB} KiB, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        await using var h = await ChromiumHarness.StartAsync();
        Console.WriteLine("chromium " + h.Page.Context.Browser!.Version);
        await h.Page.EvaluateAsync(WebRtcBench.Js, highKiB * 1024);
        int warm = Math.Max(Chunk, total / 5);
        var w1 = await FromChromiumAsync(h, warm);
        var w2 = await ChromeChromeAsync(h, warm);
        Console.WriteLine($"  warm-up ({warm >> 20} MiB, not counted): Chromium→ours {w1.Mbps:F0}, Chromium↔Chromium {w2.Mbps:F0} Mbit/s");
        var ours = new List<OneRun>();
        var alt = Alts.Select(_ => new List<OneRun>()).ToList();
        var cc = new List<OneRun>();
        for (int i = 0; i < runs; i++)
        {
            // Chromium↔Chromium first in even runs and last in odd ones (A B, B A); the Chromium→ours transfers (ours,
            // alternatives…) in between in an order rotated every second run and reversed in odd runs. So each of them
            // takes every position equally often and — the point (session 17: an A/A pair differed by 5 % when one
            // of them never came right after Chromium↔Chromium) — each comes right after Chromium↔Chromium equally
            // often, when the number of runs is a multiple of 2 × (1 + alternatives).
            var ours2 = Enumerable.Range(0, 1 + Alts.Count).Select(t => t == 0 ? 0 : t + 1).ToList();
            int k = (i / 2) % ours2.Count;
            ours2 = ours2.Skip(k).Concat(ours2.Take(k)).ToList();
            List<int> order;
            if (i % 2 == 0) order = [1, .. ours2];
            else { ours2.Reverse(); order = [.. ours2, 1]; }
            foreach (int t in order)
            {
                if (t == 0) ours.Add(await FromChromiumAsync(h, total));
                else if (t == 1) cc.Add(await ChromeChromeAsync(h, total));
                else { var a = Alts[t - 2]; alt[t - 2].Add(await FromChromiumAsync(h, total, a.WindowKiB, a.SackMode, a.Threshold)); }
            }
            Console.WriteLine(FormattableString.Invariant(
                $"  run {i + 1} (order {string.Join(" ", order.Select(t => t == 0 ? "ours" : t == 1 ? "cc" : Alts[t - 2].Name))}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}): Chromium→ours {ours[^1].Mbps:F0}, Chromium↔Chromium {cc[^1].Mbps:F0} Mbit/s, ratio {ours[^1].Mbps / cc[^1].Mbps:F2}"));
            Console.WriteLine("    Chromium→ours: " + ours[^1].Detail);
            Console.WriteLine("    Chromium↔Chromium: " + cc[^1].Detail);
            for (int j = 0; j < Alts.Count; j++)
                Console.WriteLine(FormattableString.Invariant($"    Chromium→ours with {Alts[j].Name}: {alt[j][^1].Mbps:F0} Mbit/s, ratio {alt[j][^1].Mbps / cc[^1].Mbps:F2}, / default {alt[j][^1].Mbps / ours[^1].Mbps:F2}; {alt[j][^1].Detail}"));
        }
        Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine("RESULT " + Summary("Chromium→ours", ours.Select(r => r.Mbps).ToList(), "Mbit/s"));
        Console.WriteLine("RESULT " + Summary("Chromium↔Chromium", cc.Select(r => r.Mbps).ToList(), "Mbit/s"));
        var ratios = ours.Zip(cc, (o, c) => o.Mbps / c.Mbps).ToList();
        Console.WriteLine("RESULT " + Summary("ratio per run", ratios, "×") + FormattableString.Invariant($"; {ratios.Count(r => r >= 1.0)} of {ratios.Count} runs ≥ 1.0; ratio of the medians {Median(ours.Select(r => r.Mbps).ToList()) / Median(cc.Select(r => r.Mbps).ToList()):F2}"));
        Console.WriteLine("RESULT " + Summary("our CPU while Chromium sends", ours.Select(r => r.CpuPerGiB).ToList(), "s/GiB"));
        for (int j = 0; j < Alts.Count; j++)
        {
            string name = Alts[j].Name;
            Console.WriteLine("RESULT " + Summary($"Chromium→ours, {name}", alt[j].Select(r => r.Mbps).ToList(), "Mbit/s"));
            var altRatios = alt[j].Zip(cc, (o, c) => o.Mbps / c.Mbps).ToList();
            Console.WriteLine("RESULT " + Summary($"ratio per run, {name}", altRatios, "×") + FormattableString.Invariant($"; {altRatios.Count(r => r >= 1.0)} of {altRatios.Count} runs ≥ 1.0"));
            var vsDefault = alt[j].Zip(ours, (a, o) => a.Mbps / o.Mbps).ToList();
            Console.WriteLine("RESULT " + Summary($"{name} / default, per run", vsDefault, "×") + FormattableString.Invariant($"; {name} faster in {vsDefault.Count(r => r > 1.0)} of {vsDefault.Count}"));
            Console.WriteLine("RESULT " + Summary($"our CPU, {name}", alt[j].Select(r => r.CpuPerGiB).ToList(), "s/GiB"));
        }
        return 0;
    }

    internal static string Summary(string name, List<double> xs, string unit)
    {
        var s = xs.Order().ToList();
        return FormattableString.Invariant(
            $"{name,-28} median {Median(s):F2} {unit}, min {s[0]:F2}, max {s[^1]:F2}, IQR {Quantile(s, 0.25):F2}–{Quantile(s, 0.75):F2} (runs {string.Join(" ", xs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))})");
    }

    internal static double Median(List<double> xs) => Quantile(xs.Order().ToList(), 0.5);

    /// <summary>Linear interpolation between order statistics (sorted input).</summary>
    private static double Quantile(List<double> sorted, double q)
    {
        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (pos - lo));
    }

    private static double Mbps(long bytes, double seconds) => bytes * 8 / seconds / 1e6;

    /// <summary>UDP counters of our host's namespace (<c>/proc/thread-self/net/snmp</c> read on a thread inside it).</summary>
    private static Dictionary<string, long> Udp(ChromiumHarness h, int host) => h.Host(host).RunInNamespace(() =>
    {
        var lines = File.ReadAllLines("/proc/thread-self/net/snmp").Where(l => l.StartsWith("Udp: ", StringComparison.Ordinal)).ToArray();
        var d = new Dictionary<string, long>();
        if (lines.Length < 2) return d;
        var k = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var v = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i < Math.Min(k.Length, v.Length); i++) d[k[i]] = long.Parse(v[i], CultureInfo.InvariantCulture);
        return d;
    });

    private static long Counter(string debug, string name)
    {
        var m = Regex.Match(debug, "\\b" + name + " (\\d+)");
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    /// <summary>One fresh connection, our offer; we send "go", the page sends <paramref name="total"/> bytes, timed until our last byte.</summary>
    private static async Task<OneRun> FromChromiumAsync(ChromiumHarness h, int total, int windowKiB = 0, int sackMode = 0, int sackThreshold = 0)
    {
        Volatile.Write(ref PeerConnectionCore.BenchReceiveWindow, windowKiB << 10);
        Volatile.Write(ref PeerConnectionCore.BenchSackMode, sackMode);
        Volatile.Write(ref PeerConnectionCore.BenchSackThreshold, sackThreshold);
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, new RTCPeerConnectionOptions { SocketFactory = h.OurSockets });
        var ch = pc.CreateDataChannel("bench");
        long got = 0;
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        ch.OnMessage += m =>
        {
            if (m.IsText) return;
            got += m.Data.Length;
            if (got >= total) done.TrySetResult(got);
        };
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync();
        string answer = await h.Page.EvaluateAsync<string>("([sdp, total, chunk]) => B.answer(sdp, total, chunk)",
            new object[] { pc.LocalDescription!.Sdp, total, Chunk });
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
        using var cts = new CancellationTokenSource(Limit);
        await ch.WaitOpenAsync(cts.Token);
        Volatile.Write(ref PeerConnectionCore.BenchReceiveWindow, 0); // the association exists now (made when both descriptions were set)
        var before = JsonDocument.Parse(await h.Page.EvaluateAsync<string>("() => B.stats()")).RootElement.Clone();
        var udp0 = Udp(h, 1);
        var cudp0 = Udp(h, 0);
        long inboxDrops0 = pc.LoopDroppedDatagrams;
        var usage = SelfUsage.Now();
        var loop0 = pc.LoopCounters;
        var chromeCpu0 = WebRtcChromiumCpu.Snapshot();
        var ourCpu0 = WebRtcChromiumCpu.SnapshotSelf();
        var sw = Stopwatch.StartNew();
        ch.Send("go");
        long n = await done.Task.WaitAsync(cts.Token);
        double seconds = sw.Elapsed.TotalSeconds;
        var u = SelfUsage.Now();
        var loop1 = pc.LoopCounters;
        var chromeCpu1 = WebRtcChromiumCpu.Snapshot();
        var ourCpu1 = WebRtcChromiumCpu.SnapshotSelf();
        var udp1 = Udp(h, 1);
        var cudp1 = Udp(h, 0);
        long inboxDrops = pc.LoopDroppedDatagrams - inboxDrops0;
        if (n != total) throw new InvalidOperationException($"Chromium→ours: received {n} of {total} bytes");
        var after = JsonDocument.Parse(await h.Page.EvaluateAsync<string>("() => B.stats()")).RootElement;
        string sctp = pc.DebugStats;
        Volatile.Write(ref PeerConnectionCore.BenchSackMode, 0);
        Volatile.Write(ref PeerConnectionCore.BenchSackThreshold, 0);
        await h.Page.EvaluateAsync("() => B.close()");
        long sent = after.GetProperty("packetsSent").GetInt64() - before.GetProperty("packetsSent").GetInt64();
        long sacks = after.GetProperty("packetsReceived").GetInt64() - before.GetProperty("packetsReceived").GetInt64();
        long dataIn = Counter(sctp, "dataPacketsIn"), sacksOut = Counter(sctp, "sacksOut");
        double gib = total / (double)(1L << 30);
        double cpu = u.CpuSeconds - usage.CpuSeconds;
        long switches = u.VoluntarySwitches + u.InvoluntarySwitches - usage.VoluntarySwitches - usage.InvoluntarySwitches;
        long rcvbuf = udp1.GetValueOrDefault("RcvbufErrors") - udp0.GetValueOrDefault("RcvbufErrors");
        string detail = FormattableString.Invariant(
            $"our CPU {cpu:F2} s ({cpu / gib:F1} s/GiB), {switches / 1000.0:F0} k switches; our SCTP: {dataIn} DATA packets in, {sacksOut} SACKs out ({dataIn / (double)Math.Max(1, sacksOut):F1} packets/SACK), gap SACKs {Counter(sctp, "gapSacksOut")}, dup TSNs {Counter(sctp, "dupTsnsIn")}, window drops {Counter(sctp, "windowDrops")}, SACKs under 1/4 window {Counter(sctp, "lowRwndSacks")}, min a_rwnd {Counter(sctp, "minRwnd")}; SACK policy {Regex.Match(sctp, "sackPolicy (\\S+)").Groups[1].Value}, {Counter(sctp, "midBatchSacks")} sealed mid-batch, DATA packets per batch {Regex.Match(sctp, "batches \\[([^\\]]*)\\]").Groups[1].Value}; ")
            + FormattableString.Invariant($"our loop: {loop1.Wakeups - loop0.Wakeups} wake-ups ({dataIn / (double)Math.Max(1, loop1.Wakeups - loop0.Wakeups):F1} DATA packets each), {loop1.SendBatches - loop0.SendBatches} send batches, {loop1.TimerChanges - loop0.TimerChanges} timer changes; ")
            + FormattableString.Invariant($"Chromium sent {sent} packets, received {sacks} (≈ {sent / (double)Math.Max(1, sacks):F1} per packet back); our namespace UDP RcvbufErrors +{rcvbuf}, InDatagrams +{udp1.GetValueOrDefault("InDatagrams") - udp0.GetValueOrDefault("InDatagrams")}, our loop's inbox drops +{inboxDrops}, SCTP bad packets {Counter(sctp, "dropped")}; Chromium's namespace UDP OutDatagrams +{cudp1.GetValueOrDefault("OutDatagrams") - cudp0.GetValueOrDefault("OutDatagrams")}, SndbufErrors +{cudp1.GetValueOrDefault("SndbufErrors") - cudp0.GetValueOrDefault("SndbufErrors")}")
            + FormattableString.Invariant($"; {seconds:F2} s; {WebRtcChromiumCpu.Diff(chromeCpu0, chromeCpu1, seconds)}; Chromium + ours {(WebRtcChromiumCpu.Total(chromeCpu0, chromeCpu1) + cpu) / gib:F1} CPU s/GiB; {WebRtcChromiumCpu.Diff(ourCpu0, ourCpu1, seconds)}");
        return new OneRun(Mbps(total, seconds), cpu / gib, switches, detail);
    }

    private static async Task<OneRun> ChromeChromeAsync(ChromiumHarness h, int total)
    {
        var udp0 = Udp(h, 0);
        var chromeCpu0 = WebRtcChromiumCpu.Snapshot();
        double ms = await h.Page.EvaluateAsync<double>("([total, chunk, ip]) => B.chromeChrome(total, chunk, ip)",
            new object[] { total, Chunk, h.BrowserHost.IPv4.ToString() });
        var udp1 = Udp(h, 0);
        var chromeCpu1 = WebRtcChromiumCpu.Snapshot();
        var st = JsonDocument.Parse(await h.Page.EvaluateAsync<string>("() => B.ccStats")).RootElement;
        long sent = st.GetProperty("sender").GetProperty("packetsSent").GetInt64();
        long back = st.GetProperty("sender").GetProperty("packetsReceived").GetInt64();
        return new OneRun(Mbps(total, ms / 1000), 0, 0, FormattableString.Invariant(
            $"sender sent {sent} packets, received {back} (≈ {sent / (double)Math.Max(1, back):F1} per packet back; whole connection incl. handshake); Chromium's namespace UDP (whole call, both peers) OutDatagrams +{udp1.GetValueOrDefault("OutDatagrams") - udp0.GetValueOrDefault("OutDatagrams")}, InDatagrams +{udp1.GetValueOrDefault("InDatagrams") - udp0.GetValueOrDefault("InDatagrams")}, RcvbufErrors +{udp1.GetValueOrDefault("RcvbufErrors") - udp0.GetValueOrDefault("RcvbufErrors")}, SndbufErrors +{udp1.GetValueOrDefault("SndbufErrors") - udp0.GetValueOrDefault("SndbufErrors")}; whole call incl. setup ({ms / 1000:F2} s timed): {WebRtcChromiumCpu.Diff(chromeCpu0, chromeCpu1, ms / 1000)}; {WebRtcChromiumCpu.Total(chromeCpu0, chromeCpu1) / (total / (double)(1L << 30)):F1} CPU s/GiB"));
    }
}
