using BenchmarkDotNet.Attributes;
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
}
