using Xunit.Abstractions;

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
public class ReceivePathTests(ITestOutputHelper output)
{
    private const int WindowDatagrams = 2500;

    [Theory]
    [InlineData(1452)]   // Path MTU discovery off: ≈ 35 000 datagrams of 48 MiB — two warm-up windows, then ≥ 10 measured ones
    [InlineData(16384)]  // discovery on (loopback carries 16 KiB): ≈ 15 000 datagrams of 240 MiB
    public async Task BulkDownload_HandsBatchesToTheLoop_RunsItInline_AndAllocatesNothingPerDatagram(int maxUdpPayload)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        var ct = cts.Token;
        long total = maxUdpPayload > 1452 ? 240L << 20 : 48L << 20;
        await using var listener = await LoopbackApiTests.Listen(maxUdpPayload: maxUdpPayload);
        var server = ServeBulkAsync(listener, total, ct);

        await using var client = await LoopbackApiTests.Connect(listener.LocalEndPoint, maxUdpPayload: maxUdpPayload);
        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await stream.WriteAsync(new byte[] { 1 }, ct);
        var buf = new byte[1 << 16];
        long received = 0;
        var perDatagram = new List<double>();
        var report = new System.Text.StringBuilder();
        // Windows of ≥ WindowDatagrams received datagrams (counted at the socket, not by what the reader took: the
        // stream buffers up to its flow-control window ahead of the reader, so a window of read bytes can span almost
        // no datagrams). The first two windows warm up (pools, the stream's receive ring growing to the window); an
        // unfinished last window is not counted. Measured: the least of the rest (a one-off growth or runtime
        // allocation in one window does not count). Read with precise: false (session 13: a precise: true reading was off
        // by up to ±6.9 MB while other threads allocated, and it suspends every thread for each reading); its error is
        // the threads' open allocation contexts (≤ 8 KiB each): ± a few tens of B per datagram over a 2500-datagram window.
        int window = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (_, h0, c0, _) = client.EndpointCounters;
        long a0 = GC.GetTotalAllocatedBytes(precise: false), d0 = client.Core.PacketsReceived;
        while (true)
        {
            int n = await stream.ReadAsync(buf, ct);
            if (n == 0) break;
            received += n;
            long datagrams = client.Core.PacketsReceived - d0;
            if (datagrams < WindowDatagrams) continue;
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - a0;
            var (_, h1, c1, _) = client.EndpointCounters;
            report.Append(System.Globalization.CultureInfo.InvariantCulture, $"window {window}: {datagrams} datagrams in {clock.Elapsed.TotalMilliseconds:F0} ms, {allocated} B allocated, handed off {h1 - h0}, copied {c1 - c0}\n");
            if (window++ >= 2) perDatagram.Add(allocated / (double)datagrams);
            clock.Restart();
            (_, h0, c0, _) = client.EndpointCounters;
            a0 = GC.GetTotalAllocatedBytes(precise: false);
            d0 = client.Core.PacketsReceived;
        }
        output.WriteLine(report.ToString());
        Assert.Equal(total, received);
        Assert.True(perDatagram.Count >= 3, $"only {perDatagram.Count} measured windows of {WindowDatagrams} datagrams:\n{report}");
        await server.WaitAsync(ct);

        var (batches, handedOff, copied, _) = client.EndpointCounters;
        var loop = client.LoopCounters;
        // The batch hand-off is used on the receive path (most data datagrams arrive in recvmmsg batches of ≥ 4).
        Assert.True(batches > 0 && handedOff > 0, $"no receive batch was handed to the loop whole: batches={batches} handed={handedOff} copied={copied}");
        // The client's loop ran at least some of its passes inline on the receive task.
        Assert.True(loop.InlineWakeups > 0, $"the client's loop never ran inline on the receive task: {loop}");
        // Both ends, process-wide (the stream API calls included): the least of the measured windows.
        double least = perDatagram.Min();
        // (512 until session 14; the stream API and the loop's buffers now allocate nothing per datagram: least windows
        // 0.0–0.4 B per datagram, so 64 leaves room for the reading's error and still catches a per-datagram object.)
        Assert.True(least < 64, $"allocated B per received datagram in the measured windows: {string.Join(", ", perDatagram.Select(x => x.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}\n{report}client loop {loop}");
    }

    /// <summary>
    /// Issue 14 (session 17): 64 KiB datagrams (the loopback PMTU) cannot be coalesced by GRO, so most receives carry 1–3 of
    /// them; such a batch goes to the loop whole (its arena shared with the socket's next receives) instead of being copied
    /// into the loop's 64 KiB buffers (before: every batch of fewer than 4 datagrams, a third of them). Copies left: small
    /// datagrams alone in a batch (ACKs, which would hold a 64 KiB region each) and batches beyond the 16 in flight.
    /// </summary>
    [Fact]
    public async Task BulkDownload_At64KiB_HandsSmallBatchesOfLargeDatagramsToTheLoop()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var ct = cts.Token;
        const int maxUdpPayload = QuicConnectionOptions.MaxSupportedUdpPayloadSize;
        long total = 64L << 20;
        await using var listener = await LoopbackApiTests.Listen(maxUdpPayload: maxUdpPayload);
        var server = ServeBulkAsync(listener, total, ct);
        await using var client = await LoopbackApiTests.Connect(listener.LocalEndPoint, maxUdpPayload: maxUdpPayload);
        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await stream.WriteAsync(new byte[] { 1 }, ct);
        var buf = new byte[1 << 16];
        long received = 0;
        int n;
        while ((n = await stream.ReadAsync(buf, ct)) > 0) received += n;
        await server.WaitAsync(ct);
        Assert.Equal(total, received);
        var (batches, handedOff, copied, copiedNoSpare) = client.EndpointCounters;
        long datagrams = handedOff + copied;
        string counters = $"batches {batches}, handed off {handedOff}, copied {copied} ({copiedNoSpare} for want of a spare batch)";
        output.WriteLine(counters);
        Assert.True(datagrams < total / 16_384, $"the datagrams were not 64 KiB (path MTU search): {counters}");
        // Datagrams ≥ 8 KiB are copied only for want of a spare batch; what else is copied are the server's few small
        // datagrams (handshake, ACK-only packets): well under a tenth of what arrived (a third before).
        Assert.True(copied - copiedNoSpare < datagrams / 10, counters);
        Assert.True(handedOff > datagrams / 2, counters);
    }

    /// <summary>The server side of a bulk download: accepts one connection and stream, waits for the client's one byte, sends <paramref name="total"/> bytes in 64 KiB writes, then FIN, and waits until all is acknowledged.</summary>
    private static Task ServeBulkAsync(QuicListener listener, long total, CancellationToken ct) => Task.Run(async () =>
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
}
