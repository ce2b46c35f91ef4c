using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;

namespace OspBridge.Quic.Tests;

/// <summary>The hot path (stream data → sealed datagram → decrypted and reassembled) allocates nothing per packet.</summary>
public class AllocationTests
{
    [Fact]
    public void SteadyStateTransfer_AllocatesLessThan64BytesPerPacket()
    {
        var big = new CoreOptions { InitialMaxData = 64 << 20, InitialMaxStreamDataBidiRemote = 32 << 20, InitialMaxStreamDataBidiLocal = 32 << 20 };
        var pair = new QuicPair(clientOptions: big, serverOptions: big, serverFlightPadding: 100);
        Assert.True(pair.Handshake());
        long id = pair.Client.OpenStream(true);
        var chunk = new byte[1 << 16];
        var buf = new byte[1500];
        var read = new byte[1 << 16];
        long sid = -1;
        var now = pair.Now;
        var A = new long[5];
        void Round(int packets)
        {
            while (pair.Client.StreamWrite(id, chunk, false) > 0 && pair.Client.GetStream(id)!.Send!.FreeSpace > 1 << 20) { }
            for (int i = 0; i < packets; i++)
            {
                now += TimeSpan.FromMicroseconds(50);
                long a0 = GC.GetAllocatedBytesForCurrentThread();
                if (!pair.Client.TryPollTransmit(buf, now, out var tx)) { pair.Client.HandleDeadline(now); continue; }
                int n = tx.Length;
                long a1 = GC.GetAllocatedBytesForCurrentThread();
                pair.Server!.Receive(buf.AsSpan(0, n), tx.Path, now);
                long a2 = GC.GetAllocatedBytesForCurrentThread();
                A[0] += a1 - a0; A[1] += a2 - a1;
                if (sid < 0) pair.Server.TryAcceptStream(out sid);
                while (sid >= 0 && pair.Server.StreamRead(sid, read, now, out _) > 0) { }
                long a3 = GC.GetAllocatedBytesForCurrentThread();
                while (sid >= 0 && pair.Server.StreamRead(sid, read, now, out _) > 0) { }
                long a4 = GC.GetAllocatedBytesForCurrentThread();
                while (pair.Server.TryPollTransmit(buf, now, out var rx)) { long b0 = GC.GetAllocatedBytesForCurrentThread(); pair.Client.Receive(buf.AsSpan(0, rx.Length), rx.Path, now); A[4] += GC.GetAllocatedBytesForCurrentThread() - b0; }
                long a5 = GC.GetAllocatedBytesForCurrentThread();
                A[2] += a4 - a3; A[3] += a5 - a4;
                while (pair.Client.TryPollEvent(out _)) { }
                while (pair.Server.TryPollEvent(out _)) { }
            }
        }
        Round(3000); // warm up: pools, rings and lists reach their steady size
        Array.Clear(A);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long sentBefore = pair.Client.PacketsSent;
        Round(5000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long packets = pair.Client.PacketsSent - sentBefore;
        Assert.True(packets > 1000, $"only {packets} packets");
        Assert.True(allocated / packets < 64, $"{allocated} bytes for {packets} packets: {string.Join(",", A)}");
        // records of ACK-only packets are not kept, so the sent-packet list stays bounded in a one-way transfer
        Assert.True(pair.Server!.SentRecordCountForTests < 100, $"server keeps {pair.Server.SentRecordCountForTests} sent records");
    }
}
