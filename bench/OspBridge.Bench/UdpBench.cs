using System.Diagnostics;
using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Bench;

/// <summary>
/// Loopback UDP datagrams/s through <see cref="IDatagramSocket"/>: the portable socket against the Linux
/// batched one (sendmmsg/recvmmsg, with and without GSO/GRO). One sender thread blasts batches of
/// equal-size datagrams to one receiver; the receiver counts what arrives (UDP: what the receiver cannot
/// keep up with is dropped by the kernel, so the received rate is the number that matters).
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- udp [seconds] [size] [batch]</c>
/// </summary>
public static class UdpBench
{
    public static int Run(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
        int size = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1200;
        int batchSize = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 32;
        Console.WriteLine($"udp loopback: {size}-byte datagrams, send batches of {batchSize}, {seconds} s per case, {Environment.ProcessorCount} CPUs");
        Console.WriteLine($"{"case",-22} {"sent/s",12} {"received/s",12} {"MB/s recv",10} {"alloc B/dgram",14}");
        var cases = new List<(string Name, Func<UdpSocketOptions, IDatagramSocket> Open, bool Offload)>
        {
            ("portable", o => UdpDatagramSocket.Open(o), false),
        };
        if (BatchedUdpSocket.IsSupported)
        {
            cases.Add(("batched (mmsg)", o => BatchedUdpSocket.Open(o), false));
            cases.Add(("batched (mmsg+GSO/GRO)", o => BatchedUdpSocket.Open(o), true));
        }
        foreach (var c in cases) RunCase(c.Name, c.Open, c.Offload, seconds, size, batchSize); // warm-up pass, not printed
        foreach (var c in cases) Print(c.Name, RunCase(c.Name, c.Open, c.Offload, seconds, size, batchSize), size);
        return 0;
    }

    private static void Print(string name, (double Sent, double Received, double AllocPerDatagram) r, int size) =>
        Console.WriteLine($"{name,-22} {r.Sent,12:N0} {r.Received,12:N0} {r.Received * size / 1e6,10:N1} {r.AllocPerDatagram,14:N2}");

    private static (double Sent, double Received, double AllocPerDatagram) RunCase(string name, Func<UdpSocketOptions, IDatagramSocket> open, bool offload, double seconds, int size, int batchSize)
    {
        UdpSocketOptions Options() => new() { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Offload = offload, ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20 };
        using var rx = open(Options());
        using var tx = open(Options());
        long received = 0, sent = 0;
        using var stop = new CancellationTokenSource();
        var to = rx.LocalEndPoint;
        var receiver = Task.Run(async () =>
        {
            var batch = new DatagramBatch(64, 2048);
            try
            {
                while (true)
                {
                    int n = await rx.ReceiveAsync(batch, stop.Token);
                    Interlocked.Add(ref received, n);
                }
            }
            catch (OperationCanceledException) { }
        });
        long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var sender = new Thread(() =>
        {
            var batch = new DatagramBatch(batchSize, 2048);
            for (int i = 0; i < batchSize; i++) batch.Commit(size, DatagramPath.To(to));
            while (!stop.IsCancellationRequested)
            {
                tx.Send(batch);
                Interlocked.Add(ref sent, batchSize);
            }
        }) { IsBackground = true, Name = "udp-bench-send" };
        sender.Start();
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        long r = Interlocked.Read(ref received), s = Interlocked.Read(ref sent);
        var elapsed = sw.Elapsed.TotalSeconds;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - allocBefore;
        stop.Cancel();
        sender.Join();
        receiver.Wait(TimeSpan.FromSeconds(5));
        return (s / elapsed, r / elapsed, r + s > 0 ? (double)alloc / (r + s) : 0);
    }
}
