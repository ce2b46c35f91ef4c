using BenchmarkDotNet.Attributes;
using OspBridge.Net.Channels;
using OspBridge.Net.Core;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.Bench;

/// <summary>
/// SCTP association ↔ association throughput in memory (no DTLS, no sockets): every packet A builds goes straight into
/// B and back, one serialized loop, as a DTLS driver would run it. Reports the time to move <see cref="TotalBytes"/>;
/// MB/s = TotalBytes / mean. Run: <c>dotnet run -c Release --project bench/OspBridge.Bench -- --filter '*SctpThroughput*'</c>.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 8)]
public class SctpThroughputBenchmark
{
    /// <summary>Bytes moved per benchmark invocation.</summary>
    public const long TotalBytes = 64L << 20;

    private readonly byte[] _packet = new byte[2048];
    private byte[] _message = [];

    /// <summary>User message size.</summary>
    [Params(1_024, 65_536, 262_144)]
    public int MessageSize { get; set; }

    /// <summary>Prepares the payload.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _message = new byte[MessageSize];
        new Random(1).NextBytes(_message);
    }

    /// <summary>Moves 64 MiB from A to B, reliable ordered, over a fresh association.</summary>
    [Benchmark]
    public long Transfer64MiB() => Run(TotalBytes, MessageSize, _message, _packet);

    /// <summary>The transfer loop (also used by the tests' smoke run).</summary>
    public static long Run(long total, int messageSize, byte[] message, byte[] packet)
    {
        var now = TimeSpan.FromSeconds(1);
        var a = new SctpAssociation(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        var b = new SctpAssociation(new SctpOptions { RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        a.Connect(now);
        b.Connect(now);
        long sent = 0, received = 0;
        for (int guard = 0; guard < 100_000_000 && received < total; guard++)
        {
            now += TimeSpan.FromTicks(10); // time moves a little, so RTT samples and timers stay sane
            while (a.State == SctpState.Established && sent < total && a.SendBufferUsed < 4 << 20)
            {
                int n = (int)Math.Min(messageSize, total - sent);
                a.Send(1, 53, message.AsSpan(0, n), SctpSendOptions.Reliable, now);
                sent += n;
            }
            bool any = false;
            // Per-datagram interleaving, as a socket loop would do: each packet is answered before the next one.
            while (a.TryPollTransmit(packet, now, out var lenTx))
            {
                int len = lenTx.Length;
                b.Receive(packet.AsSpan(0, len), now);
                any = true;
                while (b.TryPollTransmit(packet, now, out var backTx))
                {
                    int back = backTx.Length;
                    a.Receive(packet.AsSpan(0, back), now);
                }
            }
            while (b.TryPollTransmit(packet, now, out var lenTx))
            {
                int len = lenTx.Length;
                a.Receive(packet.AsSpan(0, len), now);
                any = true;
            }
            while (b.TryPollEvent(out var e))
            {
                if (e.Kind == SctpEventKind.MessageReceived)
                {
                    received += e.Data!.Length;
                }
            }
            while (a.TryPollEvent(out _))
            {
            }
            if (!any && a.NextDeadline is { } t && t > now)
            {
                now = t;
                a.HandleDeadline(now);
                b.HandleDeadline(now);
            }
        }
        if (received != total)
        {
            throw new InvalidOperationException($"received {received} of {total}");
        }
        return received;
    }

    /// <summary>
    /// Allocation per packet on the steady-state hot path, measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/>
    /// around each core call (not timed), for a bare <see cref="SctpAssociation"/> pair and for a
    /// <see cref="DataChannelEndpoint"/> pair. Run: <c>dotnet run -c Release --project bench/OspBridge.Bench -- sctp-alloc</c>.
    /// The delivered message arrays (owned by the application) are subtracted from the receive side and reported apart.
    /// </summary>
    public static int MeasureAllocations(string[] args)
    {
        int[] sizes = args.Length > 0 ? args.Select(int.Parse).ToArray() : [100, 1_024, 65_536];
        Console.WriteLine("layer | message | packets A->B | packets B->A | A send() B/msg | A build DATA B/pkt | B parse DATA B/pkt (excl. messages) | B build SACK B/pkt | A parse SACK B/pkt | events B/msg (excl. messages) | message arrays B/msg");
        foreach (bool endpoint in new[] { false, true })
        {
            foreach (int size in sizes)
            {
                var r = endpoint ? EndpointAllocations(size, 8L << 20, 32L << 20) : AssociationAllocations(size, 8L << 20, 32L << 20);
                Console.WriteLine($"{(endpoint ? "DataChannelEndpoint" : "SctpAssociation")} | {size} | {r.PacketsAB} | {r.PacketsBA} | {r.QueueUser / (double)r.Messages:F2} | {r.SendData / (double)r.PacketsAB:F2} | {r.ReceiveData / (double)r.PacketsAB:F2} | {r.SendSack / (double)Math.Max(1, r.PacketsBA):F2} | {r.ReceiveSack / (double)Math.Max(1, r.PacketsBA):F2} | {r.Events / (double)r.Messages:F2} | {r.MessageBytes / (double)r.Messages:F2}");
            }
        }
        return 0;
    }

    /// <summary>Bytes allocated per hot-path step (totals over the measured phase).</summary>
    public readonly record struct AllocationResult(long PacketsAB, long PacketsBA, long Messages, long SendData, long ReceiveData, long SendSack,
        long ReceiveSack, long Events, long MessageBytes, long QueueUser);

    /// <summary>Two bare associations, stream 1, reliable ordered.</summary>
    public static AllocationResult AssociationAllocations(int messageSize, long warmup, long measured)
    {
        var now = TimeSpan.FromSeconds(1);
        var a = new SctpAssociation(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        var b = new SctpAssociation(new SctpOptions { RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        var message = new byte[messageSize];
        a.Connect(now);
        b.Connect(now);
        return Allocations(a, b, now, warmup, measured,
            t =>
            {
                if (a.State != SctpState.Established || a.SendBufferUsed >= 4 << 20) return false;
                a.Send(1, 53, message, SctpSendOptions.Reliable, t);
                return true;
            },
            e => e.Kind == SctpEventKind.MessageReceived ? e.Data!.Length : -1);
    }

    /// <summary>Two data-channel endpoints, one reliable ordered channel.</summary>
    public static AllocationResult EndpointAllocations(int messageSize, long warmup, long measured)
    {
        var now = TimeSpan.FromSeconds(1);
        var a = new DataChannelEndpoint(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        var b = new DataChannelEndpoint(new SctpOptions { RemoteMaxMessageSize = 262_144, ReceiveWindow = 4 << 20 });
        var message = new byte[messageSize];
        a.Connect(now);
        b.Connect(now);
        ushort id = a.OpenChannel("bench", new DataChannelOptions(), now);
        return Allocations(a, b, now, warmup, measured,
            t =>
            {
                if (!a.IsConnected || a.GetState(id) != MessageChannelState.Open || a.Association.SendBufferUsed >= 4 << 20) return false;
                a.Send(id, message, false, t);
                return true;
            },
            e => e.Kind == DataChannelEventKind.MessageReceived ? e.Payload!.Length : -1);
    }

    private static AllocationResult Allocations<TEvent>(IProtocolCore<TEvent> a, IProtocolCore<TEvent> b, TimeSpan now, long warmup, long measured,
        Func<TimeSpan, bool> sendOne, Func<TEvent, int> deliveredLength)
    {
        var packet = new byte[2048];
        long received = 0;
        bool measuring = false;
        long pAB = 0, pBA = 0, msgs = 0, sendData = 0, recvData = 0, sendSack = 0, recvSack = 0, events = 0, msgBytes = 0, queue = 0;
        long target = warmup;
        // Array object size on 64-bit CoreCLR: header + method table + length, payload padded to 8.
        static long ArraySize(int n) => 24 + ((n + 7) & ~7);
        for (int phase = 0; phase < 2; phase++)
        {
            for (int guard = 0; guard < 100_000_000 && received < target; guard++)
            {
                now += TimeSpan.FromTicks(10);
                long t0 = GC.GetAllocatedBytesForCurrentThread();
                while (sendOne(now))
                {
                }
                long t1 = GC.GetAllocatedBytesForCurrentThread();
                if (measuring) queue += t1 - t0;
                while (true)
                {
                    t0 = GC.GetAllocatedBytesForCurrentThread();
                    bool got = a.TryPollTransmit(packet, now, out var tx);
                    t1 = GC.GetAllocatedBytesForCurrentThread();
                    if (!got) break;
                    if (measuring) { sendData += t1 - t0; pAB++; }
                    b.Receive(packet.AsSpan(0, tx.Length), DatagramPath.None, now);
                    long t2 = GC.GetAllocatedBytesForCurrentThread();
                    if (measuring) recvData += t2 - t1;
                    Back();
                }
                Back();
                t0 = GC.GetAllocatedBytesForCurrentThread();
                while (b.TryPollEvent(out var e))
                {
                    int n = deliveredLength(e);
                    if (n >= 0)
                    {
                        received += n;
                        if (measuring) { msgs++; msgBytes += ArraySize(n); }
                    }
                }
                while (a.TryPollEvent(out _))
                {
                }
                t1 = GC.GetAllocatedBytesForCurrentThread();
                if (measuring) events += t1 - t0;
                if (a.NextDeadline is { } d && d <= now) a.HandleDeadline(now);
                if (b.NextDeadline is { } d2 && d2 <= now) b.HandleDeadline(now);
            }
            measuring = true;
            target = received + measured;
        }
        // Each delivered message array is allocated inside Receive (reassembly in the association, for both layers):
        // it belongs to the application and is reported apart.
        return new AllocationResult(pAB, pBA, msgs, sendData, recvData - msgBytes, sendSack, recvSack, events, msgBytes, queue);

        void Back()
        {
            while (true)
            {
                long s0 = GC.GetAllocatedBytesForCurrentThread();
                bool back = b.TryPollTransmit(packet, now, out var btx);
                long s1 = GC.GetAllocatedBytesForCurrentThread();
                if (!back) break;
                if (measuring) { sendSack += s1 - s0; pBA++; }
                a.Receive(packet.AsSpan(0, btx.Length), DatagramPath.None, now);
                long s2 = GC.GetAllocatedBytesForCurrentThread();
                if (measuring) recvSack += s2 - s1;
            }
        }
    }
}
