using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using OspBridge.Crypto.Certificates;
using OspBridge.Quic;

namespace OspBridge.Bench;

/// <summary>
/// Issue 14's allocation check, one row per protocol, both measured with the GC's allocation counter
/// (<see cref="GC.GetTotalAllocatedBytes(bool)"/>, process-wide: both ends and every thread; <c>precise: false</c>, see
/// <see cref="WebRtcAllocBench"/>) over a steady-state window (the last two thirds of a transfer):
/// <c>alloc [all|webrtc|quic] [types]</c>;
/// <c>alloc webrtc [megabytes=64] [messageBytes=65536] [types]</c> (see <see cref="WebRtcAllocBench"/>: data channel send +
/// receive, B per datagram beyond the delivered messages);
/// <c>alloc quic [megabytes=64] [maxUdpPayload=1452] [types]</c>: a raw-QUIC download on one bidirectional stream between
/// an in-process <see cref="QuicListener"/> and <see cref="QuicConnection"/> on 127.0.0.1, the reader taking 64 KiB per
/// <see cref="QuicStream.ReadAsync(Memory{byte}, CancellationToken)"/> into one reused buffer (so the application itself
/// allocates nothing), the writer writing 64 KiB chunks of one reused buffer; B per datagram both ends sent in the
/// window (includes the stream API calls), over the whole window and per sub-window of 2500 datagrams (median and least).
/// <para>Warm-up (session 15): the first third of the transfer, in which the reader stops twice (at 1/6 and 1/4) until the
/// sender has been blocked by flow control for 60 ms (at most 2 s). The stream's receive ring grows (by doubling, rented
/// from <c>ArrayPool.Shared</c>) only when the reader lags further behind than ever before, up to the stream window
/// (16 MiB); the send ring up to its 4 MiB limit. A long-lived connection has had its worst lag behind it; a 64 MiB run
/// without the stalls had it inside the window now and then (an 8 or 16 MiB array — the first of that size in the
/// process — is 270–550 B per datagram of the window). <c>OSPBRIDGE_ALLOC_STALL=0</c> measures without the stalls.
/// What remains in whole windows is growth of bounded pools to a new high (the loops' receive free lists, the GRO
/// arenas in flight — see docs/benchmarks.md, session 15); the line after RESULT gives the window's hand-offs, copies and
/// loop-buffer allocations. Traces: <see cref="AllocBenchEvents"/> marks the window.</para>
/// <para><c>types</c> adds a GCAllocationTick listener that names the types behind the
/// bytes (it allocates per tick itself, so the numbers are taken without it unless asked).</para>
/// </summary>
internal static class AllocBench
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>How often the QUIC row's reader stops during the warm-up; <c>OSPBRIDGE_ALLOC_STALL=0</c>: never (the window before session 15).</summary>
    private static readonly int Stalls = Environment.GetEnvironmentVariable("OSPBRIDGE_ALLOC_STALL") == "0" ? 0 : 2;

    /// <summary>Waits until the sender has sent (almost) nothing for 60 ms — blocked by flow control — or 2 s passed.</summary>
    private static async Task<double> StallUntilSenderBlocked(Func<long> sent, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        long last = sent();
        var still = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(20, ct);
            long now = sent();
            if (now - last > 4) { last = now; still.Restart(); }
            else if (still.Elapsed >= TimeSpan.FromMilliseconds(60)) break;
        }
        return sw.Elapsed.TotalMilliseconds;
    }

    public static int Run(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "all";
        var rest = args.Length > 0 ? args[1..] : [];
        bool types = rest.Contains("types");
        var numbers = rest.Where(a => a != "types").Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray();
        Console.WriteLine($"alloc {what}: {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        switch (what)
        {
            case "webrtc":
                WebRtcAllocBench.Measure((long)(numbers.Length > 0 ? numbers[0] : 64) << 20, numbers.Length > 1 ? numbers[1] : 65_536, types).GetAwaiter().GetResult();
                break;
            case "quic":
                Quic((long)(numbers.Length > 0 ? numbers[0] : 64) << 20, numbers.Length > 1 ? numbers[1] : 1452, types).GetAwaiter().GetResult();
                break;
            case "all":
                WebRtcAllocBench.Measure(64L << 20, 65_536, types).GetAwaiter().GetResult();
                WebRtcAllocBench.Measure(32L << 20, 1000, types).GetAwaiter().GetResult();
                Quic(64L << 20, 1452, types).GetAwaiter().GetResult();
                Quic(256L << 20, QuicConnectionOptions.MaxSupportedUdpPayloadSize, types).GetAwaiter().GetResult();
                break;
            default:
                Console.Error.WriteLine("alloc [all|webrtc [MiB] [messageBytes]|quic [MiB] [maxUdpPayload]] [types]");
                return 2;
        }
        Console.WriteLine($"  load at the end {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    /// <summary>The QUIC row: B allocated per datagram (both ends) in the steady-state window of one download.</summary>
    internal static async Task<double> Quic(long total, int maxUdpPayload, bool types)
    {
        using var sampler = types ? new QuicAllocationListener() : null;
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        var alpn = new SslApplicationProtocol("ospb-alloc");
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [alpn],
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0, MaxUdpPayloadSize = maxUdpPayload,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = cert, ApplicationProtocols = [alpn] },
            }),
        });
        QuicConnection? serverConn = null;
        var server = Task.Run(async () =>
        {
            await using var conn = await listener.AcceptConnectionAsync(ct);
            Volatile.Write(ref serverConn, conn);
            await using var s = await conn.AcceptInboundStreamAsync(ct);
            var one = new byte[1];
            _ = await s.ReadAsync(one, ct);
            var chunk = new byte[1 << 16];
            for (long left = total; left > 0; left -= chunk.Length)
                await s.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, left)), ct);
            s.CompleteWrites();
            await s.WritesClosed.WaitAsync(ct);
        }, ct);
        await using var client = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = listener.LocalEndPoint, DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0, MaxUdpPayloadSize = maxUdpPayload,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [alpn], TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetRawCertData().AsSpan().SequenceEqual(cert.RawData) == true,
            },
        }, ct);
        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await stream.WriteAsync(new byte[] { 1 }, ct);
        var buf = new byte[1 << 16];
        double stallMilliseconds = 0;
        long received = 0, alloc0 = 0, datagrams0 = 0, windowAlloc0 = 0, windowDatagrams0 = 0;
        int stalls = 0;
        (long Batches, long HandedOff, long Copied, long NoSpare) endpoints0 = default;
        long drops0 = 0;
        (long, long, long, long) Endpoints()
        {
            var c = client.EndpointCounters;
            var s = Volatile.Read(ref serverConn)?.EndpointCounters ?? default;
            return (c.Batches + s.Batches, c.HandedOff + s.HandedOff, c.Copied + s.Copied, c.CopiedNoSpare + s.CopiedNoSpare);
        }
        static long Misses(QuicConnection? c) => (c?.Endpoint.Socket as OspBridge.Net.IO.BatchedUdpSocket)?.Arenas.Misses ?? 0;
        static string ArenaStats(QuicConnection? c) => (c?.Endpoint.Socket as OspBridge.Net.IO.BatchedUdpSocket)?.Arenas is { } l ? $"misses {l.Misses}, idle-released {l.IdleReleased}, dropped (list full) {l.Dropped}, free {l.Count}" : "-";
        long ArenaMisses() => Misses(client) + Misses(Volatile.Read(ref serverConn));
        long arenaMisses0 = 0;
        long Drops() => client.DroppedDatagrams + (Volatile.Read(ref serverConn)?.DroppedDatagrams ?? 0);
        (long Allocated, long Discarded, long IdleReleases, int Free) LoopBuffers()
        {
            var c = client.Loop.ReceiveBufferStats;
            var s = Volatile.Read(ref serverConn)?.Loop.ReceiveBufferStats ?? default;
            return (c.Allocated + s.Allocated, c.Discarded + s.Discarded, c.IdleReleases + s.IdleReleases,
                c.FreeTiny + c.FreeSmall + c.FreeLarge + s.FreeTiny + s.FreeSmall + s.FreeLarge);
        }
        (long Allocated, long Discarded, long IdleReleases, int Free) loopBuffers0 = default;
        var windows = new List<double>();
        bool steady = false;
        var sw = Stopwatch.StartNew();
        var steadyClock = new Stopwatch();
        TimeSpan cpu0 = TimeSpan.Zero;
        long Datagrams() => client.Core.DatagramsSent + (Volatile.Read(ref serverConn)?.Core.DatagramsSent ?? 0);
        while (true)
        {
            int n = await stream.ReadAsync(buf, ct);
            if (n == 0) break;
            received += n;
            if (stalls < Stalls && received >= total * (stalls + 2) / 12)
            {
                // Warm-up: the reader stops (at 1/6 and 1/4 of the transfer) until the sender is blocked by flow control, so
                // the stream's receive ring reaches the size the worst lag of a long-lived reader needs (at most the stream
                // window, which grows in between) and the sender's ring its limit — growth a long-lived connection has
                // behind it (see the class comment).
                stalls++;
                stallMilliseconds += await StallUntilSenderBlocked(() => Volatile.Read(ref serverConn)?.Core.DatagramsSent ?? 0, ct);
            }
            if (!steady && received >= total / 3)
            {
                steady = true;
                cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                datagrams0 = Datagrams();
                sampler?.Enable();
                AllocBenchEvents.Log.WindowStart(maxUdpPayload);
                steadyClock.Start();
                endpoints0 = Endpoints();
                arenaMisses0 = ArenaMisses();
                drops0 = Drops();
                loopBuffers0 = LoopBuffers();
                alloc0 = GC.GetTotalAllocatedBytes(precise: false);
                (windowAlloc0, windowDatagrams0) = (alloc0, datagrams0);
            }
            else if (steady && Datagrams() - windowDatagrams0 >= 2500)
            {
                long a1 = GC.GetTotalAllocatedBytes(precise: false), d1 = Datagrams();
                windows.Add((a1 - windowAlloc0) / (double)(d1 - windowDatagrams0));
                (windowAlloc0, windowDatagrams0) = (GC.GetTotalAllocatedBytes(precise: false), Datagrams());
            }
            if (received >= total) break; // the last byte: close the window before the FIN and the shutdown
        }
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - alloc0;
        steadyClock.Stop();
        AllocBenchEvents.Log.WindowEnd(maxUdpPayload);
        sampler?.Disable();
        long datagrams = Datagrams() - datagrams0;
        var endpoints1 = Endpoints();
        long arenaMisses = ArenaMisses() - arenaMisses0;
        string arenaStats = $"client {ArenaStats(client)}; server {ArenaStats(Volatile.Read(ref serverConn))}";
        long drops = Drops() - drops0;
        var loopBuffers1 = LoopBuffers();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        if (received != total) throw new InvalidOperationException($"received {received} of {total}");
        while (await stream.ReadAsync(buf, ct) > 0) { }
        await server.WaitAsync(ct);
        long steadyBytes = total - total / 3;
        double perDatagram = allocated / (double)Math.Max(1, datagrams);
        windows.Sort();
        double median = windows.Count > 0 ? windows[windows.Count / 2] : double.NaN, least = windows.Count > 0 ? windows[0] : double.NaN;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  quic {total >> 20} MiB, max_udp_payload {maxUdpPayload}: whole transfer {total * 8 / sw.Elapsed.TotalSeconds / 1e6:F0} Mbit/s; steady state {steadyBytes * 8 / steadyClock.Elapsed.TotalSeconds / 1e6:F0} Mbit/s, {cpu.TotalSeconds / (steadyBytes / 1e9):F2} CPU s/GB (both ends)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT alloc quic max_udp_payload {maxUdpPayload}: {perDatagram:F1} B per datagram (steady state: {allocated} B allocated over {datagrams} datagrams both ways, process-wide, stream API calls included); windows of 2500 datagrams: median {median:F1}, least {least:F1} ({windows.Count} windows)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  window: {endpoints1.Item1 - endpoints0.Batches} receive batches handed to a loop whole ({endpoints1.Item2 - endpoints0.HandedOff} datagrams), {endpoints1.Item3 - endpoints0.Copied} datagrams copied into loop buffers ({endpoints1.Item4 - endpoints0.NoSpare} for want of a spare batch), {arenaMisses} GRO arenas rented from the shared pool, receive batches allocated {client.Endpoint.BatchesAllocated} client / {Volatile.Read(ref serverConn)?.Endpoint.BatchesAllocated} server, {drops} dropped by the loops, {loopBuffers1.Allocated - loopBuffers0.Allocated} loop receive buffers allocated and {loopBuffers1.Discarded - loopBuffers0.Discarded} not kept (free lists empty / full; {loopBuffers0.Free} on the lists at the start, {loopBuffers1.IdleReleases - loopBuffers0.IdleReleases} idle releases in the window, {loopBuffers0.IdleReleases} before); {stalls} warm-up stalls of the reader, {stallMilliseconds:F0} ms in all"));
        Console.WriteLine($"  GRO arenas over the whole run: {arenaStats}");
        if (sampler is not null)
        {
            Console.WriteLine("  allocation samples by type (GCAllocationTick, ~100 KB each), steady state (the listener's own allocations included):");
            foreach (var (type, bytes) in sampler.Top(12)) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / 1e6,8:F1} MB  {type}"));
            foreach (var (e, count) in sampler.PoolEvents) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    ArrayPool.Shared {e}: {count}"));
        }
        return perDatagram;
    }
}

/// <summary>
/// Marks the QUIC row's steady-state window in a trace (<c>dotnet-trace collect --providers
/// Microsoft-Windows-DotNETRuntime:0x19:5,OspBridge-AllocBench -- dotnet OspBridge.Bench.dll alloc quic …</c>): the
/// GCAllocationTick events between <see cref="WindowStart"/> and <see cref="WindowEnd"/>, with their stacks, say which code
/// allocated in the window.
/// </summary>
[System.Diagnostics.Tracing.EventSource(Name = "OspBridge-AllocBench")]
internal sealed class AllocBenchEvents : System.Diagnostics.Tracing.EventSource
{
    public static readonly AllocBenchEvents Log = new();

    [System.Diagnostics.Tracing.Event(1)]
    public void WindowStart(int maxUdpPayload) => WriteEvent(1, maxUdpPayload);

    [System.Diagnostics.Tracing.Event(2)]
    public void WindowEnd(int maxUdpPayload) => WriteEvent(2, maxUdpPayload);
}
