using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OspBridge.Interop.Tests.WebRtc;
using OspBridge.Testing;
using OspBridge.WebRtc;

namespace OspBridge.Bench;

/// <summary>
/// Data-channel echo, same sender for every echoing peer: <c>webrtc echo [megabytes=50] [runs=3]</c> (root: it creates
/// network namespaces). Headless Chromium in netns host 0 offers one reliable ordered channel and sends the payload as
/// 64 KiB binary messages (pausing while more than 1 MiB is buffered, resuming on <c>bufferedamountlow</c>); the echoing
/// peer in netns host 1 sends every message back on the same channel. The page times first send → last echoed byte and
/// fails unless exactly the payload came back. Echoing peers, interleaved inside every run: <b>ours</b> (an
/// <see cref="RTCPeerConnection"/> in this process, sockets in host 1; the echo reads with
/// <see cref="RTCDataChannel.ReceiveAsync"/> and sends with <see cref="RTCDataChannel.SendAsync"/>, so while more than
/// 1 MiB of its echo is buffered it stops reading, and the unread messages close our SCTP receive window — the page's
/// sender is held back instead of the echo's send buffer overflowing) and <b>libwebrtc</b> (<c>interop/wrtc-echo.mjs</c>
/// on @roamhq/wrtc under node, started in host 1; it sends every message back from <c>onmessage</c> with no flow
/// control of its own, relying on libwebrtc's 16 MiB channel queue). Reports Mbit/s of the echoed payload (one direction's bytes) and the
/// echo side's CPU seconds (this process's for ours — it also runs the idle Playwright client; the node process's for
/// libwebrtc); fresh connection per measurement, one uncounted warm-up of each.
/// </summary>
internal static class WebRtcEchoBench
{
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    public static int Run(string[] args)
    {
        int mb = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
        int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        return RunAsync(mb * 1024 * 1024, runs).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int total, int runs)
    {
        Console.WriteLine($"webrtc echo bench: {total >> 20} MiB in {Chunk >> 10} KiB messages, {runs} run(s), {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        string script = Path.Combine(RepoPaths.Interop, "wrtc-echo.mjs");
        if (!Directory.Exists(Path.Combine(RepoPaths.Interop, "node_modules", "@roamhq", "wrtc")))
            throw new InvalidOperationException($"@roamhq/wrtc is not installed: run 'npm ci' in {RepoPaths.Interop}");
        await using var h = await ChromiumHarness.StartAsync();
        Console.WriteLine("chromium " + h.Page.Context.Browser!.Version);
        await h.Page.EvaluateAsync(Js);
        var results = new Dictionary<string, List<(double Mbps, double Cpu)>> { ["ours"] = [], ["libwebrtc"] = [] };

        int warm = Math.Max(Chunk, total / 5);
        var w1 = await EchoOursAsync(h, warm);
        var w2 = await EchoWrtcAsync(h, script, warm);
        Console.WriteLine($"  warm-up ({warm >> 20} MiB, not counted): ours {w1.Mbps:F0}, libwebrtc {w2.Mbps:F0} Mbit/s");
        var stalls = new Dictionary<string, int> { ["ours"] = 0, ["libwebrtc"] = 0 };
        for (int i = 0; i < runs; i++)
        {
            // A run that stalls (the echo lost messages or never finished) is reported and counted, not timed; the
            // invocation goes on so the other runs still give figures.
            foreach (var (peer, echo) in new (string, Func<Task<(double Mbps, double Cpu)>>)[]
                { ("ours", () => EchoOursAsync(h, total)), ("libwebrtc", () => EchoWrtcAsync(h, script, total)) })
            {
                try
                {
                    var r = await echo();
                    results[peer].Add(r);
                    Console.WriteLine($"  run {i + 1}: echo {peer} {r.Mbps:F0} Mbit/s (echo CPU {r.Cpu:F2} s)  load {File.ReadAllText("/proc/loadavg").Trim()}");
                }
                catch (TimeoutException ex)
                {
                    stalls[peer]++;
                    Console.WriteLine($"  run {i + 1}: echo {peer} STALLED: {ex.Message}");
                }
            }
        }
        Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}");
        if (results.Values.Any(v => v.Count == 0))
        {
            Console.WriteLine($"RESULT echo: no figures — stalled runs ours {stalls["ours"]}, libwebrtc {stalls["libwebrtc"]} of {runs}");
            return 1;
        }
        double reference = Median(results["libwebrtc"].Select(r => r.Mbps).ToList());
        foreach (var (k, v) in results)
        {
            double med = Median(v.Select(r => r.Mbps).ToList());
            double cpu = Median(v.Select(r => r.Cpu).ToList());
            Console.WriteLine($"RESULT echo {k,-10} median {med,6:F0} Mbit/s (runs {string.Join(" ", v.Select(x => x.Mbps.ToString("F0", CultureInfo.InvariantCulture)))}; stalled {stalls[k]} of {runs}), "
                + $"echo CPU median {cpu:F2} s = {cpu / (total / 1048576.0 / 1024):F1} s/GiB echoed, / libwebrtc {med / reference:F2}");
        }
        return stalls.Values.Sum() == 0 ? 0 : 1;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static double Mbps(long bytes, double ms) => bytes * 8 / (ms / 1000) / 1e6;

    /// <summary>
    /// Ours echoes: answers the page's offer in host 1; a reader task takes each message with <c>ReceiveAsync</c> and
    /// sends it back with <c>SendAsync</c> (waits while more than 1 MiB is buffered, without polling), i.e. it stops
    /// reading while its echo is backed up — the receive-side back-pressure a careful relay uses.
    /// </summary>
    private static async Task<(double Mbps, double Cpu)> EchoOursAsync(ChromiumHarness h, int total)
    {
        string offer = await h.Page.EvaluateAsync<string>("([ip]) => E.offer(ip)", new object[] { h.BrowserHost.IPv4.ToString() });
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, new RTCPeerConnectionOptions { SocketFactory = h.OurSockets });
        using var cts = new CancellationTokenSource(Limit);
        long echoed = 0, errors = 0, overflows = 0, peakBuffered = 0;
        string? firstError = null;
        pc.OnDataChannel += ch =>
        {
            ch.OnError += ex => { if (Interlocked.Increment(ref errors) == 1) firstError = ex.Message; };
            _ = Task.Run(async () =>
            {
                try
                {
                    while (await ch.ReceiveAsync(cts.Token) is { } m)
                    {
                        await ch.SendAsync(m.Data, m.IsText, cts.Token);
                        Interlocked.Add(ref echoed, m.Data.Length);
                        long b = ch.BufferedAmount; // the echo's backlog
                        if (b > Interlocked.Read(ref peakBuffered)) Interlocked.Exchange(ref peakBuffered, b);
                    }
                }
                catch (WebRtcException ex) when (ex.Error == WebRtcError.SendBufferFull)
                {
                    // Cannot happen with SendAsync's 1 MiB high-water mark; if it did, a message is lost: report it now.
                    if (Interlocked.Increment(ref overflows) == 1) firstError = ex.Message;
                    await cts.CancelAsync();
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested) { }
            });
        };
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
        await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync());
        await pc.WaitForGatheringCompleteAsync(cts.Token);
        var self = Process.GetCurrentProcess();
        self.Refresh();
        var cpu0 = self.TotalProcessorTime;
        var usage = SelfUsage.Now();
        double ms;
        try
        {
            ms = await RunPageAsync(h, pc.LocalDescription!.Sdp, total).WaitAsync(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // A stall: say where it stood (how much we echoed, our SCTP state) rather than only "a task was canceled".
            string page = await h.Page.EvaluateAsync<string>(PageState);
            throw new TimeoutException($"ours as the echoing peer stalled: {Interlocked.Read(ref echoed)} of {total} bytes echoed (limit {Limit}); {page}; channel errors {Interlocked.Read(ref errors)}, echo sends refused (send buffer full) {Interlocked.Read(ref overflows)} (first: {firstError ?? "-"}); our SCTP: {pc.DebugStats}");
        }
        self.Refresh();
        var cpu = self.TotalProcessorTime - cpu0;
        Console.WriteLine($"    echo ours, our process: {SelfUsage.Since(usage, 2L * total)} (per GiB received + sent)");
        if (Environment.GetEnvironmentVariable("OSPBRIDGE_BENCH_SCTP_STATS") == "1") Console.WriteLine($"    echo ours: peak bufferedAmount {peakBuffered / 1048576.0:F1} MiB; SCTP: {pc.DebugStats}");
        return (Mbps(total, ms), cpu.TotalSeconds);
    }

    /// <summary>libwebrtc echoes: a fresh node process per connection (started in host 1; `ip netns exec` execs node, so its id is node's).</summary>
    private static async Task<(double Mbps, double Cpu)> EchoWrtcAsync(ChromiumHarness h, string script, int total)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, WorkingDirectory = RepoPaths.Interop };
        foreach (var a in new[] { "netns", "exec", h.OurHost.Namespace, "node", script }) psi.ArgumentList.Add(a);
        using var node = Process.Start(psi) ?? throw new InvalidOperationException("could not start node " + script);
        try
        {
            var stat = new ProcStat(node.Id);
            string offer = await h.Page.EvaluateAsync<string>("([ip]) => E.offer(ip)", new object[] { h.BrowserHost.IPv4.ToString() });
            using var cts = new CancellationTokenSource(Limit);
            string answer = await new WrtcPeer(node).AnswerAsync(offer, h.BrowserHost.IPv4.ToString(), cts.Token);
            double cpu0 = stat.Sample().CpuSeconds;
            double ms;
            try
            {
                ms = await RunPageAsync(h, answer, total).WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                string page = await h.Page.EvaluateAsync<string>(PageState);
                throw new TimeoutException($"libwebrtc as the echoing peer stalled (limit {Limit}): {page}; node {(node.HasExited ? "exited " + node.ExitCode : "running")}");
            }
            return (Mbps(total, ms), stat.Sample().CpuSeconds - cpu0);
        }
        finally
        {
            node.StandardInput.Close();
            if (!node.WaitForExit(5000)) node.Kill(entireProcessTree: true);
        }
    }

    private const string PageState = "() => `page sent ${E.sent}, got back ${E.got}, buffered ${E.ch ? E.ch.bufferedAmount : '-'}, channel ${E.ch ? E.ch.readyState : '-'}, pc ${E.pc ? E.pc.connectionState : '-'}`";

    private static Task<double> RunPageAsync(ChromiumHarness h, string answer, int total) =>
        h.Page.EvaluateAsync<double>("([sdp, total, chunk]) => E.run(sdp, total, chunk)", new object[] { answer, total, Chunk });

    /// <summary>The node echo peer: one JSON line in (offer), one out (answer) per connection.</summary>
    private sealed class WrtcPeer(Process node)
    {
        public async Task<string> AnswerAsync(string offer, string ip, CancellationToken ct)
        {
            await node.StandardInput.WriteLineAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["offer"] = offer, ["ip"] = ip }).AsMemory(), ct);
            await node.StandardInput.FlushAsync(ct);
            string line = await node.StandardOutput.ReadLineAsync(ct) ?? throw new InvalidOperationException("wrtc-echo.mjs exited without an answer (its stderr is on this console)");
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("answer").GetString()!;
        }
    }

    // Page side (window.E): the sender. offer() makes a fresh connection + channel and returns the offer once ICE
    // gathering completed (with .local host names replaced by the page's own address); run() applies the answer, sends
    // `total` bytes with the same back-pressure as the throughput bench, and returns ms from first send to last echoed byte.
    private const string Js = """
        () => {
          const gathered = pc => new Promise(r => {
            if (pc.iceGatheringState === 'complete') return r();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); });
          });
          const opened = ch => new Promise(r => { if (ch.readyState === 'open') r(); else ch.onopen = () => r(); });
          const high = 1 << 20;
          window.E = {
            pc: null, ch: null, got: 0, sent: 0,
            async offer(ip) {
              if (this.pc) this.pc.close();
              const pc = new RTCPeerConnection(); this.pc = pc;
              this.ch = pc.createDataChannel('echo'); this.ch.binaryType = 'arraybuffer';
              await pc.setLocalDescription(await pc.createOffer()); await gathered(pc);
              return pc.localDescription.sdp.replace(/[0-9a-f-]{36}\.local/g, ip);
            },
            async run(sdp, total, chunk) {
              const pc = this.pc, ch = this.ch;
              try {
                await pc.setRemoteDescription({ type: 'answer', sdp });
                await opened(ch);
                let n = 0;
                const back = new Promise((res, rej) => {
                  ch.onmessage = m => { n += m.data.byteLength; window.E.got = n; if (n >= total) (n === total ? res(performance.now()) : rej(new Error('echoed ' + n + ' of ' + total))); };
                  ch.onclose = () => rej(new Error('channel closed after ' + n + ' echoed bytes'));
                });
                const buf = new Uint8Array(chunk);
                for (let i = 0; i < chunk; i++) buf[i] = (i * 131 + 7) & 255;
                ch.bufferedAmountLowThreshold = high / 2;
                const t0 = performance.now();
                let sent = 0;
                while (sent < total) {
                  if (ch.bufferedAmount > high) {
                    await new Promise(r => { ch.onbufferedamountlow = () => { ch.onbufferedamountlow = null; r(); }; });
                    continue;
                  }
                  const k = Math.min(chunk, total - sent);
                  ch.send(k === chunk ? buf : buf.subarray(0, k));
                  sent += k; window.E.sent = sent;
                }
                const t1 = await back;
                return t1 - t0;
              } finally { ch.onclose = null; pc.close(); this.pc = null; this.ch = null; }
            },
          };
          return true;
        }
        """;
}
