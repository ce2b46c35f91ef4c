namespace OspBridge.Quic.Tests;

/// <summary>Runs alone: the process-wide allocation windows below must not count other tests' work.</summary>
[CollectionDefinition(nameof(ReceivePathTests), DisableParallelization = true)]
public sealed class ReceivePathCollection;

/// <summary>
/// The socket → loop path of a bulk download over real UDP on 127.0.0.1 (issue 14): whole receive batches are handed
/// to the connection's loop (<c>CoreLoop.TryQueueBatch</c>, no copy), the loop's pass runs inline on the receive task
/// (<c>CoreLoop.Wake</c>: no thread-pool hop between a data datagram and its ACK), and steady state allocates nothing
/// per datagram on either end.
/// </summary>
[Collection(nameof(ReceivePathTests))]
public class ReceivePathTests
{
    private const int Window = 4 << 20;

    [Fact]
    public async Task BulkDownload_HandsBatchesToTheLoop_RunsItInline_AndAllocatesNothingPerDatagram()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        var ct = cts.Token;
        const long total = 4L * Window; // a warm-up window, then three measured windows
        await using var listener = await LoopbackApiTests.Listen();
        var server = Task.Run(async () =>
        {
            await using var conn = await listener.AcceptConnectionAsync(ct);
            await using var s = await conn.AcceptInboundStreamAsync(ct);
            var one = new byte[1];
            Assert.Equal(1, await s.ReadAsync(one, ct));
            var chunk = new byte[1 << 16];
            for (long left = total; left > 0; left -= chunk.Length) await s.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, left)), ct);
            s.CompleteWrites();
            await s.WritesClosed.WaitAsync(ct);
        }, ct);

        await using var client = await LoopbackApiTests.Connect(listener.LocalEndPoint);
        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await stream.WriteAsync(new byte[] { 1 }, ct);
        var buf = new byte[1 << 16];
        long received = 0;
        var perDatagram = new List<double>();
        for (int window = 0; window < 4; window++)
        {
            long a0 = GC.GetTotalAllocatedBytes(precise: true);
            long d0 = client.Core.PacketsReceived;
            long end = (window + 1L) * Window;
            while (received < end)
            {
                int n = await stream.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, end - received)), ct);
                Assert.True(n > 0, $"stream ended after {received} of {total} bytes");
                received += n;
            }
            long datagrams = client.Core.PacketsReceived - d0;
            if (window > 0) perDatagram.Add((GC.GetTotalAllocatedBytes(precise: true) - a0) / (double)Math.Max(1, datagrams));
        }
        Assert.Equal(0, await stream.ReadAsync(buf, ct));
        Assert.Equal(total, received);
        await server.WaitAsync(ct);

        var (batches, handedOff, copied) = client.EndpointCounters;
        var loop = client.LoopCounters;
        // The batch hand-off is used on the receive path (most data datagrams arrive in recvmmsg batches of ≥ 4).
        Assert.True(batches > 0 && handedOff > 0, $"no receive batch was handed to the loop whole: batches={batches} handed={handedOff} copied={copied}");
        // The client's loop ran at least some of its passes inline on the receive task.
        Assert.True(loop.InlineWakeups > 0, $"the client's loop never ran inline on the receive task: {loop}");
        // Both ends, process-wide (the stream API calls included): the least of three 4 MiB windows.
        double least = perDatagram.Min();
        Assert.True(least < 512, $"allocated B per received datagram in the three windows: {string.Join(", ", perDatagram.Select(x => x.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}");
    }
}
