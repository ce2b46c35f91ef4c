using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Playwright;
using OspBridge.Interop.Tests.WebRtc;
using OspBridge.WebRtc;

namespace OspBridge.Bench;

/// <summary>
/// Data-channel throughput in one run, same payload for every pair (reliable, ordered, binary 64 KiB messages, the
/// receiver counts bytes and the run fails unless it got exactly the total):
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- webrtc [megabytes=50] [runs=3] [chromiumHighWaterKiB=1024]</c> (root: it creates
/// network namespaces). Pairs: ours↔ours (two <see cref="RTCPeerConnection"/> in this process on 127.0.0.1),
/// ours→Chromium and Chromium→ours (our stack in netns host 1, headless Chromium in netns host 0, via
/// <see cref="ChromiumHarness"/>), and Chromium↔Chromium (two RTCPeerConnections in one page in netns host 0).
/// Time runs from the first send to the last byte at the receiver; after one uncounted warm-up pass of every pair,
/// prints Mbit/s per run and the median.
/// </summary>
internal static class WebRtcBench
{
    private const int Chunk = 64 * 1024;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "alloc") return WebRtcAllocBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "echo") return WebRtcEchoBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "from") return WebRtcFromChromiumBench.Run(args[1..]);
        int mb = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
        int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        int highKiB = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1024;
        return RunAsync(mb * 1024 * 1024, runs, highKiB).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int total, int runs, int highKiB)
    {
        Console.WriteLine($"webrtc bench: {total >> 20} MiB in {Chunk >> 10} KiB messages, {runs} run(s), Chromium high-water {highKiB} KiB, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        var data = new byte[total];
        new Random(5).NextBytes(data);
        await using var h = await ChromiumHarness.StartAsync();
        Console.WriteLine("chromium " + h.Page.Context.Browser!.Version);
        await h.Page.EvaluateAsync(Js, highKiB * 1024);
        var results = new Dictionary<string, List<double>>
        {
            ["ours↔ours"] = [], ["ours→Chromium"] = [], ["Chromium→ours"] = [], ["Chromium↔Chromium"] = [],
        };
        // One uncounted warm-up pass of every pair with a fifth of the payload (JIT tiering on our side, V8 on the page).
        var warm = data.AsMemory(0, Math.Max(Chunk, total / 5)).ToArray();
        double w1 = await OursOursAsync(warm);
        var (w2, w3) = await OursChromiumAsync(h, warm);
        double w4 = await h.Page.EvaluateAsync<double>("([total, chunk, ip]) => B.chromeChrome(total, chunk, ip)",
            new object[] { warm.Length, Chunk, h.BrowserHost.IPv4.ToString() });
        Console.WriteLine($"  warm-up ({warm.Length >> 20} MiB, not counted): {w1:F0}, {w2:F0}, {w3:F0}, {Mbps(warm.Length, w4 / 1000):F0} Mbit/s");
        for (int i = 0; i < runs; i++)
        {
            results["ours↔ours"].Add(await OursOursAsync(data));
            var (toChrome, fromChrome) = await OursChromiumAsync(h, data);
            results["ours→Chromium"].Add(toChrome);
            results["Chromium→ours"].Add(fromChrome);
            double ms = await h.Page.EvaluateAsync<double>("([total, chunk, ip]) => B.chromeChrome(total, chunk, ip)",
                new object[] { total, Chunk, h.BrowserHost.IPv4.ToString() });
            results["Chromium↔Chromium"].Add(Mbps(total, ms / 1000));
            Console.WriteLine($"  run {i + 1}: " + string.Join(", ", results.Select(r => $"{r.Key} {r.Value[^1]:F0}")) + " Mbit/s");
            Console.WriteLine("    " + _lastAllocation);
        }
        var med = results.ToDictionary(r => r.Key, r => Median(r.Value));
        double cc = med["Chromium↔Chromium"];
        Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var (k, v) in med)
            Console.WriteLine($"RESULT {k,-18} median {v,6:F0} Mbit/s  (runs {string.Join(" ", results[k].Select(x => x.ToString("F0", CultureInfo.InvariantCulture)))}), / Chromium↔Chromium {v / cc:F2}");
        return 0;
    }

    private static string _lastAllocation = "";

    private static double Mbps(long bytes, double seconds) => bytes * 8 / seconds / 1e6;

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>Sends everything on <paramref name="ch"/> with <see cref="RTCDataChannel.SendAsync"/>'s back-pressure.</summary>
    private static async Task SendAllAsync(RTCDataChannel ch, byte[] data, CancellationToken ct)
    {
        for (int off = 0; off < data.Length; off += Chunk)
            await ch.SendAsync(data.AsMemory(off, Math.Min(Chunk, data.Length - off)), isText: false, ct);
    }

    private static async Task<double> OursOursAsync(byte[] data)
    {
        var cfg = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        await using var a = new RTCPeerConnection(cfg);
        await using var b = new RTCPeerConnection(cfg);
        long got = 0;
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += ch => ch.OnMessage += m => { got += m.Data.Length; if (got >= data.Length) done.TrySetResult(got); };
        var ch = a.CreateDataChannel("bench");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        using var cts = new CancellationTokenSource(Limit);
        await ch.WaitOpenAsync(cts.Token);
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        await SendAllAsync(ch, data, cts.Token);
        long n = await done.Task.WaitAsync(cts.Token);
        var el = sw.Elapsed;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        if (n != data.Length) throw new InvalidOperationException($"ours↔ours: received {n} of {data.Length} bytes");
        // Both peers run in this process. The receiver's delivered messages (one byte[] per message) are inherent;
        // the rest, per SCTP DATA packet (1160-byte packets carry ≤ 1160 bytes of user data), is the hot-path cost.
        long packets = (data.Length + 1159) / 1160;
        _lastAllocation = $"ours↔ours allocations: {allocated / (double)(data.Length >> 20) / 1024:F0} KiB per MiB sent (incl. the delivered messages), "
            + $"≈ {(allocated - data.Length) / (double)packets:F0} B per data packet beyond them ({packets} packets)";
        return Mbps(data.Length, el.TotalSeconds);
    }

    /// <summary>One connection, our offer: first ours→Chromium (browser replies "done n"), then Chromium→ours (we send "go").</summary>
    private static async Task<(double ToChromium, double FromChromium)> OursChromiumAsync(ChromiumHarness h, byte[] data)
    {
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, new RTCPeerConnectionOptions { SocketFactory = h.OurSockets });
        var ch = pc.CreateDataChannel("bench");
        long got = 0;
        var browserDone = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ourDone = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        ch.OnMessage += m =>
        {
            if (m.IsText) { browserDone.TrySetResult(System.Text.Encoding.UTF8.GetString(m.Data.Span)); return; }
            got += m.Data.Length;
            if (got >= data.Length) ourDone.TrySetResult(got);
        };
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync();
        string answer = await h.Page.EvaluateAsync<string>("([sdp, total, chunk]) => B.answer(sdp, total, chunk)",
            new object[] { pc.LocalDescription!.Sdp, data.Length, Chunk });
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
        using var cts = new CancellationTokenSource(Limit);
        await ch.WaitOpenAsync(cts.Token);

        var usage = SelfUsage.Now();
        var sw = Stopwatch.StartNew();
        await SendAllAsync(ch, data, cts.Token);
        string reply = await browserDone.Task.WaitAsync(cts.Token);
        double to = Mbps(data.Length, sw.Elapsed.TotalSeconds);
        string toUsage = SelfUsage.Since(usage, data.Length);
        if (reply != "done " + data.Length.ToString(CultureInfo.InvariantCulture)) throw new InvalidOperationException("ours→Chromium: browser said " + reply);
        if (Environment.GetEnvironmentVariable("OSPBRIDGE_BENCH_SCTP_STATS") == "1") Console.WriteLine("    ours→Chromium SCTP: " + pc.DebugStats);

        usage = SelfUsage.Now();
        sw.Restart();
        ch.Send("go");
        long n = await ourDone.Task.WaitAsync(cts.Token);
        double from = Mbps(data.Length, sw.Elapsed.TotalSeconds);
        // Our process only (the bench's idle Playwright client included); Chromium's processes are not counted.
        Console.WriteLine($"    ours→Chromium {to:F0} Mbit/s, our process: {toUsage}");
        Console.WriteLine($"    Chromium→ours {from:F0} Mbit/s, our process: {SelfUsage.Since(usage, data.Length)}");
        if (n != data.Length) throw new InvalidOperationException($"Chromium→ours: received {n} of {data.Length} bytes");
        if (Environment.GetEnvironmentVariable("OSPBRIDGE_BENCH_SCTP_STATS") == "1") Console.WriteLine("    Chromium→ours SCTP: " + pc.DebugStats);
        await h.Page.EvaluateAsync("() => B.close()");
        return (to, from);
    }

    // Page side (window.B). Sender back-pressure mirrors ours by default: pause while bufferedAmount > high-water
    // (1 MiB, like RTCDataChannel.SendAsync), resume on bufferedamountlow (threshold high-water / 2).
    internal const string Js = """
        high => {
          const gathered = pc => new Promise(r => {
            if (pc.iceGatheringState === 'complete') return r();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); });
          });
          const opened = ch => new Promise(r => { if (ch.readyState === 'open') r(); else ch.onopen = () => r(); });
          async function sendAll(ch, total, chunk) {
            const buf = new Uint8Array(chunk);
            ch.bufferedAmountLowThreshold = high / 2;
            let sent = 0;
            while (sent < total) {
              if (ch.bufferedAmount > high) {
                await new Promise(r => { ch.onbufferedamountlow = () => { ch.onbufferedamountlow = null; r(); }; });
                continue;
              }
              const n = Math.min(chunk, total - sent);
              ch.send(n === chunk ? buf : buf.subarray(0, n));
              sent += n;
            }
          }
          // The transport's packet counters (RTCTransportStats): DATA and SACK packets, each one DTLS record / datagram.
          const tstats = async pc => {
            const o = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0 };
            (await pc.getStats()).forEach(s => { if (s.type === 'transport') { o.packetsSent += s.packetsSent || 0; o.packetsReceived += s.packetsReceived || 0; o.bytesSent += s.bytesSent || 0; o.bytesReceived += s.bytesReceived || 0; } });
            return o;
          };
          window.B = {
            pc: null,
            ccStats: null,
            // Our peer's transport counters (Chromium's side of the Chromium↔ours connection).
            async stats() { return this.pc ? JSON.stringify(await tstats(this.pc)) : '{}'; },
            // Answer our offer; count what we send ("done n" when complete); on "go" send total bytes back.
            async answer(sdp, total, chunk) {
              const pc = new RTCPeerConnection(); this.pc = pc;
              pc.ondatachannel = e => {
                const ch = e.channel; ch.binaryType = 'arraybuffer'; let n = 0;
                ch.onmessage = m => {
                  if (typeof m.data === 'string') { if (m.data === 'go') sendAll(ch, total, chunk); return; }
                  n += m.data.byteLength;
                  if (n >= total) ch.send('done ' + n);
                };
              };
              await pc.setRemoteDescription({ type: 'offer', sdp });
              await pc.setLocalDescription(await pc.createAnswer());
              await gathered(pc);
              return pc.localDescription.sdp;
            },
            close() { if (this.pc) this.pc.close(); this.pc = null; return true; },
            // Two peer connections in this page; returns ms from first send to last byte received.
            async chromeChrome(total, chunk, ip) {
              // Both sides hide their host address behind <uuid>.local; put the (only) address back instead of
              // relying on multicast DNS between two connections of one page.
              const fix = sdp => sdp.replace(/[0-9a-f-]{36}\.local/g, ip);
              const a = new RTCPeerConnection(), b = new RTCPeerConnection();
              try {
                const ch = a.createDataChannel('bench'); ch.binaryType = 'arraybuffer';
                let failed = null;
                const got = new Promise((res, rej) => {
                  b.ondatachannel = e => {
                    const r = e.channel; r.binaryType = 'arraybuffer'; let n = 0;
                    r.onmessage = m => { n += m.data.byteLength; if (n >= total) (n === total ? res(performance.now()) : rej(new Error('got ' + n))); };
                  };
                });
                await a.setLocalDescription(await a.createOffer()); await gathered(a);
                await b.setRemoteDescription({ type: 'offer', sdp: fix(a.localDescription.sdp) });
                await b.setLocalDescription(await b.createAnswer()); await gathered(b);
                await a.setRemoteDescription({ type: 'answer', sdp: fix(b.localDescription.sdp) });
                await opened(ch);
                const t0 = performance.now();
                await sendAll(ch, total, chunk);
                const t1 = await got;
                this.ccStats = JSON.stringify({ sender: await tstats(a), receiver: await tstats(b) });
                return t1 - t0;
              } finally { a.close(); b.close(); }
            },
          };
          return true;
        }
        """;
}
