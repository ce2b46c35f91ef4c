using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>The Linux batched socket (recvmmsg/sendmmsg, GSO/GRO, pktinfo) on loopback, and its interplay with the portable one.</summary>
public sealed class BatchedUdpSocketTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static UdpSocketOptions Loopback(bool offload = true) => new()
    {
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        Offload = offload,
        ReceiveBufferSize = 1 << 20,
    };

    /// <summary>Datagram <paramref name="seq"/> of <paramref name="size"/> bytes: the number, then a pattern derived from it.</summary>
    private static void Fill(Span<byte> d, int seq)
    {
        BinaryPrimitives.WriteInt32BigEndian(d, seq);
        for (int i = 4; i < d.Length; i++) d[i] = (byte)(seq * 31 + i);
    }

    private static bool Check(ReadOnlySpan<byte> d, out int seq)
    {
        seq = d.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(d) : -1;
        for (int i = 4; i < d.Length; i++) if (d[i] != (byte)(seq * 31 + i)) return false;
        return d.Length >= 4;
    }

    private static void SendRange(IDatagramSocket from, IPEndPoint to, int first, int count, Func<int, int> size, int batchSize = 32)
    {
        var batch = new DatagramBatch(batchSize, 2048);
        for (int i = first; i < first + count; i++)
        {
            int len = size(i);
            Fill(batch.NextSlot[..len], i);
            batch.Commit(len, DatagramPath.To(to));
            if (batch.IsFull) { from.Send(batch); batch.Clear(); }
        }
        if (batch.Count > 0) from.Send(batch);
    }

    /// <summary>Receives until <paramref name="count"/> datagrams arrived; returns them in arrival order as (seq, length, path).</summary>
    private static async Task<List<(int Seq, int Length, DatagramPath Path)>> ReceiveAsync(IDatagramSocket socket, int count, int batchCapacity = 32)
    {
        var got = new List<(int, int, DatagramPath)>();
        var batch = new DatagramBatch(batchCapacity, 2048);
        using var cts = new CancellationTokenSource(Wait);
        while (got.Count < count)
        {
            int n = await socket.ReceiveAsync(batch, cts.Token);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Check(batch[i], out int seq), $"datagram {got.Count} corrupted");
                got.Add((seq, batch.LengthAt(i), batch.PathAt(i)));
            }
        }
        return got;
    }

    [Fact]
    public void DefaultFactory_PicksBatchedOnLinux_PortableFactoryDoesNot()
    {
        using var d = UdpSocketFactory.Default.Open(Loopback());
        using var p = UdpSocketFactory.Portable.Open(Loopback());
        Assert.IsType<UdpDatagramSocket>(p);
        if (OperatingSystem.IsLinux() && Environment.Is64BitProcess && Environment.GetEnvironmentVariable("OSPBRIDGE_UDP") is null)
            Assert.IsType<BatchedUdpSocket>(d);
    }

    [Fact]
    public async Task ManyDatagrams_BothWays_ArriveIntactWithAddressing()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        using var a = BatchedUdpSocket.Open(Loopback());
        using var b = BatchedUdpSocket.Open(Loopback());
        const int total = 3000, window = 300;
        for (int round = 0; round < 2; round++)
        {
            var (from, to) = round == 0 ? (a, b) : (b, a);
            var seen = new List<int>();
            for (int first = 0; first < total; first += window)
            {
                var recv = ReceiveAsync(to, window);
                SendRange(from, to.LocalEndPoint, first, window, i => 16 + (i * 7 % 1400));
                var got = await recv;
                Assert.All(got, g => Assert.Equal(16 + (g.Seq * 7 % 1400), g.Length));
                Assert.All(got, g => Assert.Equal(from.LocalEndPoint, g.Path.Remote));
                Assert.All(got, g => Assert.Equal(IPAddress.Loopback, g.Path.Local!.Address));
                Assert.All(got, g => Assert.NotEqual(0, g.Path.InterfaceIndex));
                seen.AddRange(got.Select(g => g.Seq));
            }
            Assert.Equal(Enumerable.Range(0, total), seen.Order());
        }
        Assert.False(a.SendFellBack || a.ReceiveFellBack || b.SendFellBack || b.ReceiveFellBack);
        Assert.True(a.SendCalls < total / 8, $"sendmmsg calls {a.SendCalls} for {total} datagrams");
    }

    [Theory]
    [InlineData(32)]
    [InlineData(5)] // a coalesced receive larger than the batch arrives whole (the batch takes the GRO arena)
    public async Task GsoRuns_AreSplitBackIntoDatagrams_ByGroOrTheKernel(int receiveBatch)
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        using var sender = BatchedUdpSocket.Open(Loopback());
        using var groReceiver = BatchedUdpSocket.Open(Loopback());
        using var plainReceiver = BatchedUdpSocket.Open(Loopback(offload: false));
        using var portableReceiver = UdpDatagramSocket.Open(Loopback());

        // Runs: 20 × 1200 + a shorter tail, then 10 × 300 to the same peer, then single odd sizes.
        static int Size(int i) => i < 20 ? 1200 : i == 20 ? 500 : i < 31 ? 300 : 17 + i;
        const int count = 40;
        foreach (var r in new IDatagramSocket[] { groReceiver, plainReceiver, portableReceiver })
        {
            long gsoBefore = sender.GsoMessages;
            var recv = ReceiveAsync(r, count, receiveBatch);
            SendRange(sender, r.LocalEndPoint, 0, count, Size, batchSize: 64);
            var got = await recv;
            Assert.Equal(Enumerable.Range(0, count), got.Select(g => g.Seq)); // one sender, one flow: in order
            Assert.All(got, g => Assert.Equal(Size(g.Seq), g.Length));
            Assert.All(got, g => Assert.Equal(sender.LocalEndPoint, g.Path.Remote));
            Assert.True(sender.GsoMessages >= gsoBefore + 2, $"expected GSO sends, got {sender.GsoMessages - gsoBefore}");
        }
        Assert.True(sender.GsoEnabled);
        Assert.True(groReceiver.GroEnabled);
        Assert.True(groReceiver.GroMessages >= 1, "GRO never coalesced on loopback");
        Assert.Equal(0, plainReceiver.GroMessages);
    }

    [Fact]
    public async Task PacketInfo_ReportsDestinationAndInterface_AndSendChoosesTheSource()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        using var any = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Any, 0) });
        using var peer = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Any, 0) });
        int port = any.LocalEndPoint.Port;
        var batch = new DatagramBatch(4, 64);
        foreach (var dst in new[] { "127.0.0.1", "127.0.0.2" })
        {
            var recv = ReceiveAsync(any, 1);
            Fill(batch.NextSlot[..8], 1);
            batch.Commit(8, new DatagramPath(new IPEndPoint(IPAddress.Parse("127.0.0.5"), 0), new IPEndPoint(IPAddress.Parse(dst), port)));
            peer.Send(batch);
            batch.Clear();
            var g = Assert.Single(await recv);
            Assert.Equal(IPAddress.Parse(dst), g.Path.Local!.Address);
            Assert.Equal(port, g.Path.Local.Port);
            Assert.Equal(LoopbackIndex(), g.Path.InterfaceIndex);
            // The sender's pktinfo chose 127.0.0.5 as the source although its socket is bound to 0.0.0.0.
            Assert.Equal(IPAddress.Parse("127.0.0.5"), g.Path.Remote!.Address);
            Assert.Equal(peer.LocalEndPoint.Port, g.Path.Remote.Port);
        }
    }

    [Fact]
    public async Task PacketInfo_IPv6()
    {
        Assert.True(BatchedUdpSocket.IsSupported && Socket.OSSupportsIPv6, "the test tiers run on 64-bit Linux with IPv6");
        var a = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.IPv6Any, 0) });
        var b = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 0) });
        using (a)
        using (b)
        {
            var recv = ReceiveAsync(a, 25);
            SendRange(b, new IPEndPoint(IPAddress.IPv6Loopback, a.LocalEndPoint.Port), 0, 25, i => 1000);
            var got = await recv;
            Assert.Equal(Enumerable.Range(0, 25), got.Select(g => g.Seq));
            Assert.All(got, g => Assert.Equal(IPAddress.IPv6Loopback, g.Path.Local!.Address));
            Assert.All(got, g => Assert.Equal(LoopbackIndex(), g.Path.InterfaceIndex));
            Assert.All(got, g => Assert.Equal(b.LocalEndPoint, g.Path.Remote));
        }
    }

    [Fact]
    public async Task Batched_And_Portable_Interoperate()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        using var batched = BatchedUdpSocket.Open(Loopback());
        using var portable = UdpDatagramSocket.Open(Loopback());
        var recv = ReceiveAsync(batched, 100);
        SendRange(portable, batched.LocalEndPoint, 0, 100, i => 100 + i);
        Assert.Equal(Enumerable.Range(0, 100), (await recv).Select(g => g.Seq));
        var back = ReceiveAsync(portable, 100);
        SendRange(batched, portable.LocalEndPoint, 0, 100, i => 1100);
        var got = await back;
        Assert.Equal(Enumerable.Range(0, 100), got.Select(g => g.Seq));
        Assert.All(got, g => Assert.Equal(batched.LocalEndPoint, g.Path.Remote));
    }

    [Fact]
    public async Task Dispose_EndsAPendingReceive()
    {
        var s = UdpSocketFactory.Default.Open(Loopback());
        var batch = new DatagramBatch();
        var pending = s.ReceiveAsync(batch, CancellationToken.None).AsTask();
        await Task.Delay(50); // let the receive park
        s.Dispose();
        var ex = await Record.ExceptionAsync(() => pending.WaitAsync(Wait));
        Assert.True(ex is ObjectDisposedException or SocketException or OperationCanceledException, ex?.GetType().Name);
    }

    [Fact]
    public async Task Cancellation_EndsAPendingReceive()
    {
        using var s = UdpSocketFactory.Default.Open(Loopback());
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await s.ReceiveAsync(new DatagramBatch(), cts.Token));
    }

    [Fact]
    public async Task Waits_go_through_epoll_and_no_wakeup_is_lost_in_a_ping_pong()
    {
        // Each side waits (parked, socket empty) before the other sends: a lost edge-triggered wake-up would hang a
        // round and fail the bounded wait below.
        using var a = BatchedUdpSocket.Open(Loopback());
        using var b = BatchedUdpSocket.Open(Loopback());
        Assert.True(a.UsesEpollReadiness && b.UsesEpollReadiness, "batched sockets should wait through EpollReadiness on Linux x86-64/arm64");
        long wakeups0 = Interlocked.Read(ref EpollReadiness.Wakeups);
        var batchA = new DatagramBatch(8, 2048);
        var batchB = new DatagramBatch(8, 2048);
        const int rounds = 500;
        var echo = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            for (int i = 0; i < rounds; i++)
            {
                int n = await b.ReceiveAsync(batchB, cts.Token);
                for (int k = 0; k < n; k++) b.Send(batchB[k], DatagramPath.To(batchB.PathAt(k).Remote!));
            }
        });
        var buf = new byte[64];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int got = 0;
        for (int i = 0; i < rounds && !cts.IsCancellationRequested; i++)
        {
            Fill(buf, i);
            a.Send(buf, DatagramPath.To(b.LocalEndPoint));
            int n = await a.ReceiveAsync(batchA, cts.Token);
            Assert.True(n == 1 && Check(batchA[0], out int seq) && seq == i, $"round {i}: {n} datagrams, first seq {(n > 0 && Check(batchA[0], out int s2) ? s2 : -1)}");
            got++;
        }
        await echo.WaitAsync(Wait);
        Assert.Equal(rounds, got);
        long wakeups = Interlocked.Read(ref EpollReadiness.Wakeups) - wakeups0;
        Assert.True(wakeups >= rounds, $"only {wakeups} epoll wake-ups for {2 * rounds} parked receives");
    }

    [Fact]
    public async Task Sockets_opened_after_others_closed_still_wake_up()
    {
        // Descriptor numbers are reused after close: a registration left on the epoll set would steal or miss events.
        for (int round = 0; round < 20; round++)
        {
            var sockets = Enumerable.Range(0, 10).Select(_ => UdpSocketFactory.Default.Open(Loopback())).ToList();
            using var sender = UdpSocketFactory.Default.Open(Loopback());
            try
            {
                var pending = sockets.Select(s => ReceiveAsync(s, 3)).ToList();
                await Task.Yield();
                foreach (var s in sockets) SendRange(sender, s.LocalEndPoint, 0, 3, _ => 100);
                foreach (var p in pending)
                {
                    var got = await p.WaitAsync(Wait);
                    Assert.Equal(3, got.Count);
                }
            }
            finally
            {
                foreach (var s in sockets) s.Dispose();
            }
        }
    }

    private static int LoopbackIndex() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .First(i => i.NetworkInterfaceType == System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .GetIPProperties().GetIPv4Properties().Index;
}
