using System.Diagnostics;
using System.Globalization;
using System.Net;
using OspBridge.WebRtc;

namespace OspBridge.Bench;

/// <summary>
/// Data-channel allocation sampler (issue 14, "hot paths allocate nothing per datagram"):
/// <c>webrtc alloc [megabytes=64] [messageBytes=65536]</c>. Two <see cref="RTCPeerConnection"/>s in this process on
/// 127.0.0.1 (full stack: ICE, DTLS, SCTP, sockets), one reliable ordered channel. After a warm-up third of the
/// transfer, it brackets the remaining two thirds (steady state) with <see cref="GC.GetTotalAllocatedBytes(bool)"/>,
/// subtracts the delivered messages (one <c>byte[]</c> per received message, owned by the application) and divides by
/// the SCTP DATA packets that carried the bytes (≤ 1160 bytes of user data each, so a lower bound on datagrams: SACKs
/// and DTLS records are datagrams too). The GCAllocationTick sampler names the types behind the bytes. CPU seconds
/// per GB are the process's (both ends).
/// </summary>
internal static class WebRtcAllocBench
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    public static int Run(string[] args)
    {
        int mb = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 64;
        int message = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 65_536;
        if (mb is < 3 or > 4096 || message is < 1 or > 262_144) { Console.Error.WriteLine("webrtc alloc [megabytes 3..4096] [messageBytes 1..262144]"); return 2; }
        return RunAsync((long)mb << 20, message).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(long total, int message)
    {
        Console.WriteLine($"webrtc alloc: {total >> 20} MiB in {message}-byte messages, ours↔ours in-process, load {File.ReadAllText("/proc/loadavg").Trim()}");
        using var sampler = new QuicAllocationListener();
        var payload = new byte[message];
        new Random(5).NextBytes(payload);
        var cfg = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        await using var a = new RTCPeerConnection(cfg);
        await using var b = new RTCPeerConnection(cfg);
        long got = 0, messages = 0;
        long warmBytes = total / 3;
        long steadyAlloc0 = 0, steadyMessages0 = 0, steadyBytes0 = 0;
        TimeSpan cpu0 = TimeSpan.Zero;
        var steadyStart = new Stopwatch();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += ch => ch.OnMessage += m =>
        {
            got += m.Data.Length;
            messages++;
            if (steadyAlloc0 == 0 && got >= warmBytes)
            {
                steadyAlloc0 = GC.GetTotalAllocatedBytes(precise: true);
                steadyMessages0 = messages;
                steadyBytes0 = got;
                cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                steadyStart.Start();
                sampler.Enable();
            }
            if (got >= total) done.TrySetResult();
        };
        var ch = a.CreateDataChannel("alloc");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        using var cts = new CancellationTokenSource(Limit);
        await ch.WaitOpenAsync(cts.Token);
        var sw = Stopwatch.StartNew();
        for (long sent = 0; sent < total; sent += message)
            await ch.SendAsync(payload.AsMemory(0, (int)Math.Min(message, total - sent)), isText: false, cts.Token);
        await done.Task.WaitAsync(cts.Token);
        long steadyAlloc = GC.GetTotalAllocatedBytes(precise: true) - steadyAlloc0;
        sampler.Disable();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        double steadySeconds = steadyStart.Elapsed.TotalSeconds;
        long steadyBytes = got - steadyBytes0;
        long steadyMessages = messages - steadyMessages0;
        // each delivered message is one byte[] of its length (+ 24 bytes of array header on x64)
        long delivered = steadyBytes + (steadyMessages * 24);
        long packets = Math.Max(1, steadyMessages * ((message + 1159) / 1160));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  whole transfer {total * 8 / sw.Elapsed.TotalSeconds / 1e6:F0} Mbit/s; steady state (last 2/3): {steadyBytes * 8 / steadySeconds / 1e6:F0} Mbit/s, {cpu.TotalSeconds / (steadyBytes / 1e9):F2} CPU s/GB (both ends)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT webrtc alloc {message} B messages: steady state {steadyAlloc} B allocated, {delivered} B of it delivered messages; beyond them {(steadyAlloc - delivered) / (double)packets:F1} B per DATA packet ({packets} packets, {steadyMessages} messages)"));
        Console.WriteLine("  allocation samples by type (GCAllocationTick, ~100 KB each), steady state:");
        foreach (var (type, bytes) in sampler.Top(12)) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / 1e6,8:F1} MB  {type}"));
        return 0;
    }
}
