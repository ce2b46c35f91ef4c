using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Camera;
using OspBridge.Media.Sources;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bench;

/// <summary>
/// Issue 12 must-show 4: one H.264 source (default MediaSource <c>test:1080p</c>: 1920x1080, 30 fps, 4 Mbit/s, ffmpeg
/// in its own process) fanned out by the agent's <see cref="CameraService"/> (the code <c>agent --camera</c> runs: one
/// MediaHub, one RTCPeerConnection + RTP sender per viewer, SRTP over real loopback UDP) to N viewers — our
/// RTCPeerConnection receivers in a second process (<c>media-viewers</c>), so the agent process's CPU is the agent's
/// alone. Each access unit gets an SEI (user data unregistered) with the monotonic clock at hub ingest; the agent
/// records ingest → frame handed to each viewer's sender, and the viewer process (same CLOCK_MONOTONIC) ingest → frame
/// complete at the receiver (an upper bound of ingest → SRTP send: it adds the loopback hop, SRTP unprotect and
/// depacketizing). Usage: <c>media-fanout [--viewers 1,10,25,50] [--seconds 10] [--source test:1080p]</c>.
/// </summary>
internal static class MediaFanoutBench
{
    private static readonly byte[] SeiUuid = "OSPB-INGEST-TS!!"u8.ToArray(); // 16 octets, no zero octet
    private const int StampLength = 4 + 1 + 1 + 1 + 16 + 16 + 1; // start code, NAL header, type, size, uuid, 16 hex, trailing

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "viewers") return RunViewers(args[1..]).GetAwaiter().GetResult();
        var counts = Arg(args, "--viewers", "1,10,25,50").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        double seconds = double.Parse(Arg(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        string source = Arg(args, "--source", "test:1080p");
        return RunAgentAsync(counts, seconds, source).GetAwaiter().GetResult();
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>Appends the ingest SEI to an Annex B access unit.</summary>
    private static byte[] Stamp(ReadOnlySpan<byte> au, long ticks)
    {
        var o = new byte[au.Length + StampLength];
        au.CopyTo(o);
        var s = o.AsSpan(au.Length);
        s[3] = 1; // 00 00 00 01
        s[4] = 0x06; // SEI
        s[5] = 5; // user_data_unregistered
        s[6] = 32;
        SeiUuid.CopyTo(s[7..]);
        Encoding.ASCII.GetBytes(ticks.ToString("x16", CultureInfo.InvariantCulture), s[23..]);
        s[39] = 0x80;
        return o;
    }

    /// <summary>The ingest stamp at the end of an access unit, or null.</summary>
    internal static long? ReadStamp(ReadOnlySpan<byte> au)
    {
        var tail = au[^Math.Min(au.Length, 64)..];
        int i = tail.LastIndexOf(SeiUuid);
        if (i < 0 || i + 32 > tail.Length) return null;
        return long.TryParse(Encoding.ASCII.GetString(tail.Slice(i + 16, 16)), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long t) ? t : null;
    }

    /// <summary>The source with every video access unit stamped at the moment the hub takes it.</summary>
    private sealed class StampingSource(IMediaSource inner) : IMediaSource
    {
        public MediaSourceInfo Info => inner.Info;
        public MediaSourceState State => inner.State;
        public Action<EncodedFrame>? FrameReceived { get; set; }

        public event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged
        {
            add => inner.StateChanged += value;
            remove => inner.StateChanged -= value;
        }

        public Task StartAsync(CancellationToken cancellationToken)
        {
            inner.FrameReceived = f =>
            {
                if (f.Codec == MediaCodec.H264) f = f with { Data = Stamp(f.Data.Span, Stopwatch.GetTimestamp()) };
                FrameReceived?.Invoke(f);
            };
            return inner.StartAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);
        public void RequestKeyframe() => inner.RequestKeyframe();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static async Task<int> RunAgentAsync(int[] counts, double seconds, string sourceSpec)
    {
        var loopback = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        await using var camera = new CameraService(new StampingSource(MediaSource.Create(sourceSpec)), NullLogger.Instance, counts.Max() + 1, null, output: _ => { });
        var agentLatencies = new List<double>();
        bool measuring = false;
        camera.FrameWritten = f =>
        {
            if (!measuring || f.Codec != MediaCodec.H264 || ReadStamp(f.Data.Span) is not { } t) return;
            double ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            lock (agentLatencies) agentLatencies.Add(ms);
        };
        var me = Process.GetCurrentProcess();
        Console.WriteLine($"media-fanout: source {sourceSpec}, {Environment.ProcessorCount} CPUs, {seconds} s per row, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Console.WriteLine("| viewers | agent CPU % (of 1 core) | CPU %/viewer | frames/viewer/s | agent ingest→sender p50 / p99 ms | ingest→viewer frame p50 / p99 ms | viewer proc CPU % |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        var rows = new List<(int N, double Cpu)>();
        foreach (int n in counts)
        {
            var pcs = new List<RTCPeerConnection>();
            using var child = StartViewers(n);
            try
            {
                for (int i = 0; i < n; i++)
                {
                    string offer = JsonSerializer.Deserialize<string>((await child.StandardOutput.ReadLineAsync())!.Split(' ', 2)[1])!;
                    var pc = new RTCPeerConnection(loopback, new RTCPeerConnectionOptions());
                    pcs.Add(pc);
                    await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
                    await camera.AttachAsync(pc, $"viewer-{i}", offer, CancellationToken.None);
                    await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync());
                    await pc.WaitForGatheringCompleteAsync();
                    await child.StandardInput.WriteLineAsync("ANSWER " + JsonSerializer.Serialize(pc.LocalDescription!.Sdp));
                    await child.StandardInput.FlushAsync();
                }
                await Task.Delay(TimeSpan.FromSeconds(3)); // connect, first keyframes, steady state
                lock (agentLatencies) agentLatencies.Clear();
                measuring = true;
                await child.StandardInput.WriteLineAsync("MEASURE");
                await child.StandardInput.FlushAsync();
                me.Refresh();
                var cpu0 = me.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                await Task.Delay(TimeSpan.FromSeconds(seconds));
                me.Refresh();
                double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                double cpu = (me.TotalProcessorTime - cpu0).TotalSeconds / wall * 100;
                measuring = false;
                await child.StandardInput.WriteLineAsync("STOP");
                await child.StandardInput.FlushAsync();
                string result = (await child.StandardOutput.ReadLineAsync()) ?? "RESULT";
                List<double> agent;
                lock (agentLatencies) agent = [.. agentLatencies.Order()];
                var kv = result.Split(' ').Skip(1).Select(x => x.Split('=')).Where(x => x.Length == 2).ToDictionary(x => x[0], x => x[1]);
                rows.Add((n, cpu));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {n} | {cpu:0.0} | {cpu / n:0.00} | {kv.GetValueOrDefault("fps", "?")} | {Percentile(agent, 0.5):0.00} / {Percentile(agent, 0.99):0.00} | {kv.GetValueOrDefault("p50", "?")} / {kv.GetValueOrDefault("p99", "?")} | {kv.GetValueOrDefault("cpu", "?")} |"));
            }
            finally
            {
                foreach (var pc in pcs) await pc.DisposeAsync();
                if (!child.WaitForExit(10_000)) child.Kill(entireProcessTree: true);
            }
        }
        if (rows.Count >= 2)
        {
            var (n1, c1) = rows[0];
            var (n2, c2) = rows[^1];
            double perViewer = (c2 - c1) / (n2 - n1);
            double budget = 0.8 * Environment.ProcessorCount * 100;
            double at80 = perViewer > 0 ? n1 + ((budget - c1) / perViewer) : double.PositiveInfinity;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"marginal CPU per viewer {perViewer:0.00} % of one core ({n1}→{n2} viewers); viewers at 80 % of {Environment.ProcessorCount} CPUs ≈ {at80:0} (linear extrapolation)"));
        }
        return 0;
    }

    private static Process StartViewers(int n)
    {
        string host = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") psi.ArgumentList.Add(typeof(MediaFanoutBench).Assembly.Location);
        foreach (var a in new[] { "media-fanout", "viewers", n.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>The viewer process: N receiving peer connections offered over stdout, answers on stdin.</summary>
    private static async Task<int> RunViewers(string[] args)
    {
        int n = int.Parse(args[0], CultureInfo.InvariantCulture);
        var loopback = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        var pcs = new List<RTCPeerConnection>();
        var latencies = new List<double>();
        long frames = 0;
        bool measuring = false;
        using var stop = new CancellationTokenSource();
        var readers = new List<Task>();
        for (int i = 0; i < n; i++)
        {
            var pc = new RTCPeerConnection(loopback, new RTCPeerConnectionOptions());
            pcs.Add(pc);
            var video = await pc.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
            var audio = await pc.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
            await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
            await pc.WaitForGatheringCompleteAsync();
            Console.Out.WriteLine("OFFER " + JsonSerializer.Serialize(pc.LocalDescription!.Sdp));
            Console.Out.Flush();
            string answer = JsonSerializer.Deserialize<string>(Console.In.ReadLine()!.Split(' ', 2)[1])!;
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
            readers.Add(Task.Run(async () =>
            {
                try
                {
                    await foreach (var f in video.Receiver.ReadAllAsync(stop.Token))
                    {
                        if (!Volatile.Read(ref measuring)) continue;
                        Interlocked.Increment(ref frames);
                        if (ReadStamp(f.Data.Span) is { } t)
                        {
                            double ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                            lock (latencies) latencies.Add(ms);
                        }
                    }
                }
                catch (OperationCanceledException) { }
            }));
            readers.Add(Task.Run(async () =>
            {
                try { await foreach (var _ in audio.Receiver.ReadAllAsync(stop.Token)) { } }
                catch (OperationCanceledException) { }
            }));
        }
        var me = Process.GetCurrentProcess();
        TimeSpan cpu0 = default;
        long t0 = 0;
        while (Console.In.ReadLine() is { } line)
        {
            if (line == "MEASURE")
            {
                me.Refresh();
                cpu0 = me.TotalProcessorTime;
                t0 = Stopwatch.GetTimestamp();
                Volatile.Write(ref measuring, true);
            }
            else if (line == "STOP")
            {
                Volatile.Write(ref measuring, false);
                me.Refresh();
                double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                double cpu = (me.TotalProcessorTime - cpu0).TotalSeconds / wall * 100;
                List<double> sorted;
                lock (latencies) sorted = [.. latencies.Order()];
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"RESULT fps={Interlocked.Read(ref frames) / wall / n:0.0} p50={Percentile(sorted, 0.5):0.00} p99={Percentile(sorted, 0.99):0.00} cpu={cpu:0.0} samples={sorted.Count}"));
                Console.Out.Flush();
                break;
            }
        }
        await stop.CancelAsync();
        foreach (var pc in pcs) await pc.DisposeAsync();
        try { await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
        return 0;
    }
}
