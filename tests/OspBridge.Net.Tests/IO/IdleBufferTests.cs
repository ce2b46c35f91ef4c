using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 13: a socket or loop that waits holds no datagram buffers — the batch slots, the GRO receive arena and the
/// loop's send batch go back to the shared pool before each wait (1000 idle QUIC connections held ≈ 1.2 MiB each).
/// </summary>
public sealed class IdleBufferTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public void Batch_RentsOnFirstUse_ReleasesOnlyWhenEmpty()
    {
        var batch = new DatagramBatch(4, 1500);
        Assert.False(batch.HasBuffer);
        Assert.True(batch.TryAdd([1, 2, 3], DatagramPath.To(new IPEndPoint(IPAddress.Loopback, 9))));
        Assert.True(batch.HasBuffer);
        batch.ReleaseBuffer(); // one datagram in it: kept
        Assert.True(batch.HasBuffer);
        Assert.Equal([1, 2, 3], batch[0].ToArray());
        batch.Clear();
        batch.ReleaseBuffer();
        Assert.False(batch.HasBuffer);
        Assert.Equal(1500, batch.NextSlot.Length); // rented again on use
        Assert.True(batch.Buffer.Length >= 4 * 1500);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"not within {Wait.TotalSeconds} s: {what}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task BatchedSocket_WaitingForData_HoldsNeitherSlotsNorGroStaging()
    {
        Assert.True(BatchedUdpSocket.IsSupported, "the test tiers run on 64-bit Linux");
        using var receiver = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Offload = true });
        using var sender = BatchedUdpSocket.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        var batch = new DatagramBatch(32, 2048);
        using var cts = new CancellationTokenSource(Wait);
        for (int round = 0; round < 3; round++)
        {
            var pending = receiver.ReceiveAsync(batch, cts.Token).AsTask();
            await WaitUntilAsync(() => !batch.HasBuffer && !receiver.HoldsStaging, $"round {round}: the waiting socket gave its buffers back (batch {batch.HasBuffer}, staging {receiver.HoldsStaging})");
            Assert.False(pending.IsCompleted, "nothing was sent, yet the receive completed");
            var send = new DatagramBatch(1, 2048);
            send.TryAdd(new byte[] { 7, (byte)round, 9 }, DatagramPath.To(receiver.LocalEndPoint));
            sender.Send(send);
            int n = await pending;
            Assert.Equal(1, n);
            Assert.Equal(new byte[] { 7, (byte)round, 9 }, batch[0].ToArray());
        }
    }
}
