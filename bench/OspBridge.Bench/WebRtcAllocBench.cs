using System.Diagnostics;
using System.Globalization;
using System.Net;
using OspBridge.WebRtc;

namespace OspBridge.Bench;

/// <summary>
/// Data-channel allocation check (issue 14, "hot paths allocate nothing per datagram"):
/// <c>webrtc alloc [megabytes=64] [messageBytes=65536] [types]</c> (also the <c>webrtc</c> row of <c>alloc</c>, see
/// <see cref="AllocBench"/>). Two <see cref="RTCPeerConnection"/>s in this process on 127.0.0.1 (full stack: ICE, DTLS,
/// SCTP, sockets), one reliable ordered channel, the sender calling <see cref="RTCDataChannel.SendAsync"/> from its own
/// task (so every message goes through the off-loop send path), the receiver's <c>OnMessage</c> on the connection's
/// dispatcher. After a warm-up third of the transfer, the remaining two thirds (steady state) are bracketed with
/// <see cref="GC.GetTotalAllocatedBytes(bool)"/> (process-wide: both ends, every thread) inside the receiving handler;
/// the delivered messages (one <c>byte[]</c> per received message, owned by the application: 24 bytes of header + the
/// length, rounded up to 8; counted where SCTP makes them, <see cref="RTCPeerConnection.AssembledMessages"/> — the
/// handler runs later, behind the receive window and the dispatcher's queue) are subtracted, and the rest is divided by
/// the datagrams both ends sent in the window (the loops' <see cref="Net.IO.CoreLoopCounters.Transmits"/>: DATA and
/// SACK packets, each one DTLS record in one UDP datagram). <c>precise: false</c>: on this .NET 10 runtime the precise
/// counter was measured off by up to 7 MB (and back in the next reading) while other threads allocate; the imprecise one
/// is within one allocation context (≈ 8 KB) per thread. With <c>types</c> a GCAllocationTick listener names the types behind the bytes (the listener itself
/// allocates per tick, so the figure is taken without it unless asked).
/// </summary>
internal static class WebRtcAllocBench
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
    private const int WindowDatagrams = 2500;

    /// <summary>What one steady-state window measured.</summary>
    internal readonly record struct Result(long Allocated, long Delivered, long Datagrams, long Messages, long Bytes, double Seconds, double CpuSeconds)
    {
        public double PerDatagram => (Allocated - Delivered) / (double)Math.Max(1, Datagrams);
    }

    private static string WindowSummary(List<double> windows) => windows.Count == 0 ? "" : FormattableString.Invariant(
        $"; windows of {WindowDatagrams} datagrams: median {WebRtcFromChromiumBench.Median(windows):F1}, least {windows.Min():F1} ({windows.Count} windows: {string.Join(" ", windows.Select(w => w.ToString("F0", CultureInfo.InvariantCulture)))})");

    public static int Run(string[] args)
    {
        var numbers = args.Where(a => a != "types").ToArray();
        int mb = numbers.Length > 0 ? int.Parse(numbers[0], CultureInfo.InvariantCulture) : 64;
        int message = numbers.Length > 1 ? int.Parse(numbers[1], CultureInfo.InvariantCulture) : 65_536;
        if (mb is < 3 or > 4096 || message is < 1 or > 262_144) { Console.Error.WriteLine("webrtc alloc [megabytes 3..4096] [messageBytes 1..262144] [types]"); return 2; }
        Console.WriteLine($"webrtc alloc: {mb} MiB in {message}-byte messages, ours↔ours in-process, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        Measure((long)mb << 20, message, args.Contains("types")).GetAwaiter().GetResult();
        return 0;
    }

    /// <summary>One transfer of <paramref name="total"/> bytes in <paramref name="message"/>-byte messages; prints and returns the steady-state window.</summary>
    internal static async Task<Result> Measure(long total, int message, bool types)
    {
        using var sampler = types ? new WebRtcAllocationSampler() : null;
        var payload = new byte[message];
        new Random(5).NextBytes(payload);
        var cfg = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        await using var a = new RTCPeerConnection(cfg);
        await using var b = new RTCPeerConnection(cfg);
        long got = 0, messages = 0;
        long warmBytes = total / 3;
        long alloc0 = 0, alloc1 = 0, messages0 = 0, bytes0 = 0, datagrams0 = 0, datagrams1 = 0;
        (long Messages, long Bytes) assembled0 = default, assembled1 = default;
        TimeSpan cpu0 = TimeSpan.Zero, cpu1 = TimeSpan.Zero;
        var steady = new Stopwatch();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Windows of WindowDatagrams datagrams inside the steady state (as the QUIC row): a lump (a pool refill, a queue
        // growing to a new high-water mark) lands in one window, an allocation per datagram or message in every one.
        var windows = new List<double>();
        long wAlloc = 0, wDatagrams = 0;
        (long Messages, long Bytes) wAssembled = default;
        long arrayOverhead = ((24 + message + 7) & ~7) - message;
        b.OnDataChannel += ch => ch.OnMessage += m =>
        {
            got += m.Data.Length;
            messages++;
            if (alloc0 != 0 && alloc1 == 0 && a.LoopCounters.Transmits + b.LoopCounters.Transmits - wDatagrams >= WindowDatagrams)
            {
                long nowAlloc = GC.GetTotalAllocatedBytes(precise: false);
                long nowDatagrams = a.LoopCounters.Transmits + b.LoopCounters.Transmits;
                var nowAssembled = b.AssembledMessages;
                long wDelivered = nowAssembled.Bytes - wAssembled.Bytes + ((nowAssembled.Messages - wAssembled.Messages) * arrayOverhead);
                windows.Add((nowAlloc - wAlloc - wDelivered) / (double)(nowDatagrams - wDatagrams));
                (wAlloc, wDatagrams, wAssembled) = (nowAlloc, nowDatagrams, nowAssembled);
            }
            if (alloc0 == 0 && got >= warmBytes)
            {
                cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                datagrams0 = a.LoopCounters.Transmits + b.LoopCounters.Transmits;
                assembled0 = b.AssembledMessages;
                messages0 = messages;
                bytes0 = got;
                sampler?.Enable();
                steady.Start();
                alloc0 = GC.GetTotalAllocatedBytes(precise: false);
                (wAlloc, wDatagrams, wAssembled) = (alloc0, datagrams0, assembled0);
            }
            else if (alloc0 != 0 && alloc1 == 0 && got >= total)
            {
                alloc1 = GC.GetTotalAllocatedBytes(precise: false);
                assembled1 = b.AssembledMessages;
                steady.Stop();
                sampler?.Disable();
                datagrams1 = a.LoopCounters.Transmits + b.LoopCounters.Transmits;
                cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
                done.TrySetResult();
            }
        };
        var ch = a.CreateDataChannel("alloc");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        using var cts = new CancellationTokenSource(Limit);
        await ch.WaitOpenAsync(cts.Token);
        var sw = Stopwatch.StartNew();
        var sender = Task.Run(async () =>
        {
            for (long sent = 0; sent < total; sent += message)
                await ch.SendAsync(payload.AsMemory(0, (int)Math.Min(message, total - sent)), isText: false, cts.Token);
        });
        await done.Task.WaitAsync(cts.Token);
        await sender;
        // each delivered message is one byte[]: x64 array header (24 bytes) + its length, rounded up to 8
        long delivered = assembled1.Bytes - assembled0.Bytes + ((assembled1.Messages - assembled0.Messages) * (((24 + message + 7) & ~7) - message));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  SendAsync waited {ch.SendAsyncWaits} times in the whole transfer ({total / message} messages)"));
        var r = new Result(alloc1 - alloc0, delivered, datagrams1 - datagrams0, messages - messages0, got - bytes0, steady.Elapsed.TotalSeconds, (cpu1 - cpu0).TotalSeconds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  whole transfer {total * 8 / sw.Elapsed.TotalSeconds / 1e6:F0} Mbit/s; steady state (last 2/3): {r.Bytes * 8 / r.Seconds / 1e6:F0} Mbit/s, {r.CpuSeconds / (r.Bytes / 1e9):F2} CPU s/GB (both ends)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT alloc webrtc {message} B messages: {r.PerDatagram:F1} B per datagram beyond the delivered messages (steady state: {r.Allocated} B allocated, {r.Delivered} B of it the delivered messages ({r.Messages} handled in the window), {r.Datagrams} datagrams both ways)")
            + WindowSummary(windows));
        if (sampler is not null)
        {
            Console.WriteLine("  allocation samples by type and allocating thread (GCAllocationTick, ~100 KB each), steady state:");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    (left out: {sampler.SkippedBytes / 1e6:F1} MB of ticks on the listener's own thread)"));
            foreach (var (type, bytes) in sampler.Top(20)) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / 1e6,8:F1} MB  {type}"));
            foreach (var (e, count) in sampler.PoolEvents) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    ArrayPool.Shared {e}: {count}"));
        }
        return r;
    }
}
