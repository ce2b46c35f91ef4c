using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>Runs alone: other tests renting from ArrayPool.Shared on other threads would disturb the measurement.</summary>
[CollectionDefinition(nameof(SctpAllocationTests), DisableParallelization = true)]
public sealed class SctpAllocationCollection;

[Collection(nameof(SctpAllocationTests))]
public class SctpAllocationTests
{
    /// <summary>Steady-state transfer in memory: the only allocations are the delivered messages themselves.</summary>
    [Fact]
    public void HotPath_AllocatesOnlyTheDeliveredMessages()
    {
        var now = TimeSpan.FromSeconds(1);
        var a = new SctpAssociation(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144 });
        var b = new SctpAssociation(new SctpOptions { RemoteMaxMessageSize = 262_144 });
        var packet = new byte[1500];
        var message = new byte[65_536];
        a.Connect(now);
        b.Connect(now);
        long received = 0;
        void Pump(long target)
        {
            for (int guard = 0; guard < 10_000_000 && received < target; guard++)
            {
                now += TimeSpan.FromTicks(10);
                while (a.State == SctpState.Established && a.SendBufferUsed < 2 << 20)
                {
                    a.Send(1, 53, message, SctpSendOptions.Reliable, now);
                }
                while (a.TryPollTransmit(packet, now, out var lenTx))
                {
                    int len = lenTx.Length;
                    b.Receive(packet.AsSpan(0, len), now);
                    while (b.TryPollTransmit(packet, now, out var backTx))
                    {
                        int back = backTx.Length;
                        a.Receive(packet.AsSpan(0, back), now);
                    }
                }
                while (b.TryPollTransmit(packet, now, out var len2Tx))
                {
                    int len2 = len2Tx.Length;
                    a.Receive(packet.AsSpan(0, len2), now);
                }
                while (b.TryPollEvent(out var e))
                {
                    received += e.Data?.Length ?? 0;
                }
                while (a.TryPollEvent(out _))
                {
                }
            }
        }
        Pump(8 << 20); // warm up: pools, queues and rings reach their steady size
        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = received;
        Pump(received + (16 << 20));
        long moved = received - start;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(moved >= 16 << 20);
        // The delivered byte[] per message is owned by the application; everything else must be (nearly) free.
        Assert.True(allocated < moved + (moved / 50), $"allocated {allocated} bytes to move {moved}");
    }
}
