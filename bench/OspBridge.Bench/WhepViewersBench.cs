using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.Testing;
using OspBridge.Testing.Processes;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bench;

/// <summary>
/// Issue 13 "must show" 3, viewers: <c>viewers</c> concurrent WHEP viewers (our <see cref="RTCPeerConnection"/>,
/// receive-only video) of one camera, through a real <c>ospbridge serve</c> to a real <c>ospbridge agent --camera test</c>,
/// both child processes on loopback with trust written beforehand both ways (no PIN). Each viewer POSTs its complete
/// offer (<c>application/sdp</c>) to <c>/whep/{id}</c>, expects 201 with the answer, then counts video frames for
/// <c>seconds</c>. Prints viewers connected, frames per viewer (min / median), the bridge's and the device's CPU
/// (cores) and RSS from /proc, and this process's CPU (all viewers).
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- bridge-whep [viewers=50] [seconds=20]</c>
/// </summary>
internal static class WhepViewersBench
{
    private const string Token = "bench-admin-token-0123456789";
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(120);

    public static int Run(string[] args)
    {
        int viewers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
        int seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
        return RunAsync(viewers, seconds).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int viewers, int seconds)
    {
        using var root = new TestDirectory("ospbridge-whep-load");
        string bridgeState = root["bridge"], deviceState = root["device"];
        const string DeviceName = "Load Camera";
        string bridgeFp, deviceFp;
        using (var b = AgentIdentity.LoadOrCreate(bridgeState, OspInstanceName.FromDisplayName("OspBridge"))) bridgeFp = b.Fingerprint;
        using (var d = AgentIdentity.LoadOrCreate(deviceState, OspInstanceName.FromDisplayName(DeviceName))) deviceFp = d.Fingerprint;
        PeerTrust.Open(bridgeState).RecordAuthenticated(deviceFp, DeviceName);
        PeerTrust.Open(deviceState).RecordAuthenticated(bridgeFp, "OspBridge");
        string id = PeerTrust.IdOf(deviceFp);

        await using var agent = CliChild.Start("agent", "--name", DeviceName, "--camera", "test", "--accept-all", "--interface", "lo", "--state-dir", deviceState,
            "--max-viewers", (viewers + 2).ToString(CultureInfo.InvariantCulture)); // s5-talk's option (the default cap is lower)
        await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
        var (serve, url) = await CliChild.StartServeAsync(bridgeState, Step, "--token", Token);
        await using var serveOwner = serve;
        using var api = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(120) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var sw = Stopwatch.StartNew();
        while (true)
        {
            using var doc = JsonDocument.Parse(await api.GetStringAsync(new Uri("/api/devices", UriKind.Relative)));
            if (doc.RootElement.EnumerateArray().Any(d => d.GetProperty("id").GetString() == id && d.GetProperty("online").GetBoolean() && d.GetProperty("paired").GetBoolean())) break;
            if (sw.Elapsed > Step) { Console.WriteLine("the bridge did not see the camera online and paired"); return 1; }
            await Task.Delay(500);
        }

        string load0 = File.ReadAllText("/proc/loadavg").Trim();
        var bridge = new ProcStat(serve.ProcessId);
        var device = new ProcStat(agent.ProcessId);
        var b0 = bridge.Sample();
        var d0 = device.Sample();
        var self0 = Process.GetCurrentProcess().TotalProcessorTime;
        var pcs = new List<RTCPeerConnection>();
        var frames = new long[viewers];
        var postMs = new double[viewers];
        var firstFrameMs = new double[viewers];
        Array.Fill(postMs, double.NaN);
        Array.Fill(firstFrameMs, double.NaN);
        var failures = new List<string>();
        using var watch = new CancellationTokenSource();
        var readers = new List<Task>();
        try
        {
            sw.Restart();
            var setups = Enumerable.Range(0, viewers).Select(async i =>
            {
                var pc = new RTCPeerConnection(new RTCConfiguration { Interfaces = ["lo"], ObfuscateHostCandidates = false });
                lock (pcs) pcs.Add(pc);
                var video = await pc.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
                await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
                using (var gather = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await pc.WaitForGatheringCompleteAsync(gather.Token);
                using var post = new HttpRequestMessage(HttpMethod.Post, new Uri($"/whep/{id}", UriKind.Relative))
                {
                    Content = new StringContent(pc.LocalDescription!.Sdp, Encoding.UTF8, "application/sdp"),
                };
                post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
                long posted = Stopwatch.GetTimestamp();
                using var response = await api.SendAsync(post);
                string body = await response.Content.ReadAsStringAsync();
                postMs[i] = Stopwatch.GetElapsedTime(posted).TotalMilliseconds;
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    lock (failures) failures.Add($"viewer {i}: {(int)response.StatusCode} {body[..Math.Min(200, body.Length)]}");
                    return;
                }
                await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, body));
                lock (readers) readers.Add(CountAsync(video.Receiver, frames, firstFrameMs, Stopwatch.GetTimestamp(), i, watch.Token));
            }).ToList();
            await Task.WhenAll(setups);
            double setupSeconds = sw.Elapsed.TotalSeconds;
            if (failures.Count > 0) Console.WriteLine($"{failures.Count} viewers refused; first: {failures[0]}");
            if (failures.Count == viewers) return 2;
            watch.CancelAfter(TimeSpan.FromSeconds(seconds));
            var b1 = bridge.Sample();
            var d1 = device.Sample();
            Task[] reading;
            lock (readers) reading = [.. readers];
            await Task.WhenAll(reading);
            var b2 = bridge.Sample();
            var d2 = device.Sample();
            var self = Process.GetCurrentProcess().TotalProcessorTime - self0;
            var got = frames.Where(f => f > 0).Order().ToArray();
            Console.WriteLine($"bridge-whep: {viewers} viewers, {seconds} s; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()} (at the start: {load0})");
            Console.WriteLine("| What | Figure |");
            Console.WriteLine("|---|---|");
            Console.WriteLine($"| viewers answered (201) / receiving video | {viewers - failures.Count} / {got.Length} (all {viewers} set up in {setupSeconds:F1} s) |");
            Console.WriteLine($"| video frames per viewer in {seconds} s | min {(got.Length > 0 ? got[0] : 0)}, median {(got.Length > 0 ? got[got.Length / 2] : 0)} ({(got.Length > 0 ? got[got.Length / 2] / (double)seconds : 0):F1} fps) |");
            Console.WriteLine($"| bridge (serve) while streaming | {(b2.CpuSeconds - b1.CpuSeconds) / seconds:F2} cores; RSS {b2.RssMiB:F1} MiB (peak {b2.PeakMiB:F1}; {b0.RssMiB:F1} before the viewers); setup CPU {b1.CpuSeconds - b0.CpuSeconds:F2} s |");
            Console.WriteLine($"| device (agent --camera test) while streaming | {(d2.CpuSeconds - d1.CpuSeconds) / seconds:F2} cores; RSS {d2.RssMiB:F1} MiB (peak {d2.PeakMiB:F1}; {d0.RssMiB:F1} before) |");
            Console.WriteLine($"| POST /whep → 201 (the bridge's signaling: LAN offer to the device and its complete answer) | {Percentiles(postMs)} |");
            Console.WriteLine($"| answer applied → first video frame (ICE, DTLS, keyframe from the GOP cache) | {Percentiles(firstFrameMs)} |");
            Console.WriteLine($"| this process (all viewers: ICE, DTLS, SRTP, depacketizing) | {self.TotalSeconds:F1} s CPU |");
            return got.Length == viewers ? 0 : 1;
        }
        finally
        {
            await watch.CancelAsync();
            foreach (var pc in pcs) await pc.DisposeAsync();
        }
    }

    private static string Percentiles(double[] ms)
    {
        var v = ms.Where(x => !double.IsNaN(x)).Order().ToArray();
        if (v.Length == 0) return "none";
        double P(double q) => v[Math.Min(v.Length - 1, (int)Math.Ceiling(q * v.Length) - 1)];
        return string.Create(CultureInfo.InvariantCulture, $"p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, max {v[^1]:F0} ms (n={v.Length})");
    }

    private static async Task CountAsync(RTCRtpReceiver receiver, long[] frames, double[] firstFrameMs, long answered, int i, CancellationToken ct)
    {
        try
        {
            await foreach (var _ in receiver.ReadAllAsync(ct))
            {
                if (Interlocked.Increment(ref frames[i]) == 1) firstFrameMs[i] = Stopwatch.GetElapsedTime(answered).TotalMilliseconds;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
