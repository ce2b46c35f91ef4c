using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Certificates;
using OspBridge.Quic;
using OspBridge.Quic.Tests;

namespace OspBridge.Bench;

/// <summary>
/// <c>soak [minutes=10] [junkPerSecond=2000] [validPerSecond=200]</c> (issue 9): a QUIC listener on loopback (default
/// limits: 256 pending handshakes, Retry above 128, 10 s handshake timeout) under a steady mix of junk Initials (random
/// bytes shaped like a v1 Initial) and valid ones (a real ClientHello re-encrypted under fresh DCIDs, from 32 source
/// ports, never completed), while a legitimate client connects once a second. Every 10 s it prints RSS, threads,
/// pending handshakes and the legitimate clients' handshake success rate; at the end the figures after the flood
/// stops and a full GC. Bounded: the rates fix the datagram count, every handshake has a 5 s deadline.
/// </summary>
internal static class SoakBench
{
    private static readonly SslApplicationProtocol Alpn = new("ospb-soak");

    public static int Run(string[] args)
    {
        double minutes = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        int junkRate = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        int validRate = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200;
        if (minutes is <= 0 or > 120 || junkRate is < 0 or > 100_000 || validRate is < 0 or > 10_000)
        {
            Console.Error.WriteLine("soak [minutes 0..120] [junk/s 0..100000] [valid/s 0..10000]");
            return 2;
        }
        return RunAsync(TimeSpan.FromMinutes(minutes), junkRate, validRate).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(TimeSpan duration, int junkRate, int validRate)
    {
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        await using var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [Alpn],
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0,
                DefaultStreamErrorCode = 0,
                HandshakeTimeout = TimeSpan.FromSeconds(10),
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = cert, ApplicationProtocols = [Alpn] },
            }),
        });
        var start = Sample();
        string startBreakdown = MemoryBreakdown();
        Console.WriteLine($"soak: {duration.TotalMinutes:0.##} min, {junkRate} junk + {validRate} valid Initials/s against {listener.LocalEndPoint}; start RSS {start.Rss:F1} MiB, managed {start.Managed:F1} MiB, threads {start.Threads}");
        Console.WriteLine();
        Console.WriteLine("| t (s) | RSS (MiB) | managed (MiB) | threads | pending | created | Retries | handshakes ok / tried | median ms |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        var initial = InitialCrafter.RealInitial(Alpn.ToString());
        var attackers = Enumerable.Range(0, 32).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToArray();
        using var stop = new CancellationTokenSource(duration);
        var flood = Task.Run(() => Flood(listener.LocalEndPoint, attackers, initial, junkRate, validRate, stop.Token));
        int ok = 0, tried = 0, totalOk = 0, totalTried = 0;
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        var nextSample = TimeSpan.FromSeconds(10);
        while (!stop.IsCancellationRequested)
        {
            tried++;
            var sw = Stopwatch.StartNew();
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
                await using var client = await QuicConnection.ConnectAsync(ClientOptions(listener.LocalEndPoint, cert), cts.Token);
                await using var server = await accept;
                ok++;
                lock (times) times.Add(sw.Elapsed.TotalMilliseconds);
            }
            catch (Exception ex) when (ex is QuicException or OperationCanceledException)
            {
            }
            if (clock.Elapsed >= nextSample)
            {
                var s = Sample();
                double median = times.Count == 0 ? double.NaN : times.Order().ElementAt(times.Count / 2);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {nextSample.TotalSeconds:0} | {s.Rss:F1} | {s.Managed:F1} | {s.Threads} | {listener.PendingCount} | {listener.ConnectionsCreated} | {listener.RetriesSent} | {ok} / {tried} | {median:F0} |"));
                totalOk += ok; totalTried += tried; ok = 0; tried = 0; times.Clear();
                nextSample += TimeSpan.FromSeconds(10);
            }
            try { await Task.Delay(TimeSpan.FromSeconds(1) - sw.Elapsed > TimeSpan.Zero ? TimeSpan.FromSeconds(1) - sw.Elapsed : TimeSpan.Zero, stop.Token); }
            catch (OperationCanceledException) { }
        }
        long sent = await flood;
        totalOk += ok; totalTried += tried;
        foreach (var a in attackers) a.Dispose();
        var wait = Stopwatch.StartNew();
        while (listener.PendingCount > 0 && wait.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(100);
        var end = Sample();
        Console.WriteLine();
        Console.WriteLine($"datagrams sent {sent}; handshakes {totalOk} / {totalTried}; connections created {listener.ConnectionsCreated}, Retries {listener.RetriesSent}, dropped over cap {listener.DroppedOverCap}");
        Console.WriteLine($"after the flood, pending {listener.PendingCount}, full GC: RSS {end.Rss:F1} MiB (start {start.Rss:F1}, {end.Rss - start.Rss:+0.0;-0.0} MiB), managed {end.Managed:F1} MiB, threads {end.Threads}");
        Console.WriteLine($"memory at start: {startBreakdown}");
        Console.WriteLine($"memory at end:   {MemoryBreakdown()}");
        int trimmed = MallocTrim(0);
        using (var p = Process.GetCurrentProcess())
            Console.WriteLine($"after malloc_trim(0) (returned {trimmed}): RSS {p.WorkingSet64 / 1048576.0:F1} MiB; {MemoryBreakdown()}");
        return totalOk == totalTried && end.Rss - start.Rss < 20 ? 0 : 1;
    }

    private static long Flood(IPEndPoint target, Socket[] sockets, byte[] initial, int junkRate, int validRate, CancellationToken ct)
    {
        var rng = new Random(7);
        long sent = 0;
        var clock = Stopwatch.StartNew();
        long junk = 0, valid = 0;
        while (!ct.IsCancellationRequested)
        {
            double t = clock.Elapsed.TotalSeconds;
            while (junk < junkRate * t) { sockets[sent++ % sockets.Length].SendTo(InitialCrafter.Junk(rng), target); junk++; }
            while (valid < validRate * t) { sockets[sent++ % sockets.Length].SendTo(InitialCrafter.Reencrypt(initial, rng), target); valid++; }
            ct.WaitHandle.WaitOne(5);
        }
        return sent;
    }

    private static QuicClientConnectionOptions ClientOptions(IPEndPoint server, X509Certificate2 cert) => new()
    {
        RemoteEndPoint = server,
        DefaultCloseErrorCode = 0,
        DefaultStreamErrorCode = 0,
        ClientAuthenticationOptions = new SslClientAuthenticationOptions
        {
            ApplicationProtocols = [Alpn],
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetRawCertData().AsSpan().SequenceEqual(cert.RawData),
        },
    };

    /// <summary>
    /// Where the resident memory is: GC committed bytes, and /proc/self/smaps resident kB summed by kind (the malloc
    /// heap "[heap]", other anonymous mappings — GC regions, glibc per-thread malloc arenas, thread stacks —,
    /// "[stack]", and file-backed mappings: libraries, the runtime, JIT double-mapped code).
    /// </summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    internal static string MemoryBreakdown()
    {
        long heap = 0, anon = 0, file = 0, stack = 0, anonMaps = 0;
        string? kind = null;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && !line.EndsWith(" kB", StringComparison.Ordinal) && line.Split(' ')[0].Contains('-', StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                string name = parts.Length >= 6 ? parts[5] : "";
                kind = name switch { "[heap]" => "heap", "[stack]" => "stack", "" => "anon", _ when name.StartsWith('[') => "other", _ when name.StartsWith("/memfd:", StringComparison.Ordinal) => "anon", _ => "file" };
                if (kind == "anon") anonMaps++;
            }
            else if (line.StartsWith("Rss:", StringComparison.Ordinal) && kind is not null)
            {
                long kb = long.Parse(line.AsSpan(4).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
                switch (kind)
                {
                    case "heap": heap += kb; break;
                    case "anon": anon += kb; break;
                    case "stack": stack += kb; break;
                    case "file": file += kb; break;
                }
            }
        }
        var gc = GC.GetGCMemoryInfo();
        var gens = string.Join(", ", Enumerable.Range(0, gc.GenerationInfo.Length).Select(i => string.Create(CultureInfo.InvariantCulture,
            $"{(i switch { 3 => "LOH", 4 => "POH", _ => "gen" + i })} {gc.GenerationInfo[i].SizeAfterBytes / 1048576.0:F1}/frag {gc.GenerationInfo[i].FragmentationAfterBytes / 1048576.0:F1}")));
        return string.Create(CultureInfo.InvariantCulture,
            $"GC committed {gc.TotalCommittedBytes / 1048576.0:F1} MiB (heap {gc.HeapSizeBytes / 1048576.0:F1}: {gens}); smaps RSS: [heap] {heap / 1024.0:F1}, anonymous {anon / 1024.0:F1} ({anonMaps} maps), file-backed {file / 1024.0:F1}, [stack] {stack / 1024.0:F1} MiB");
    }

    private static (double Rss, double Managed, int Threads) Sample()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        // Aggressive: also decommits the GC's free memory, so RSS shows what is still held rather than cached heap
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var p = Process.GetCurrentProcess();
        return (p.WorkingSet64 / 1048576.0, GC.GetTotalMemory(false) / 1048576.0, p.Threads.Count);
    }
}
