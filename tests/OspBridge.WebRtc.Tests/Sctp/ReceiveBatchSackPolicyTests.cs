using System.Buffers.Binary;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// <see cref="ReceiveBatchSackPolicy"/> sans-IO (issue 14, session 17): DATA packets taken straight from a sender go
/// into the receiving association in batches, as the WebRTC loop feeds them; after each packet the policy says whether
/// the owed SACK is written mid-batch, and at the batch's end the association's flush writes what is left. The clock
/// does not move unless a test moves it.
/// </summary>
public class ReceiveBatchSackPolicyTests
{
    /// <summary>A SACK written while a batch was fed: after which packet (0-based, in feed order, −1 = at the flush), and its cumulative TSN and gap blocks.</summary>
    private readonly record struct Sack(int AfterPacket, uint CumulativeTsn, int Gaps);

    private sealed class Harness
    {
        public readonly SctpTestPair P = new();
        public readonly ReceiveBatchSackPolicy Policy;

        /// <summary>The test's clock once the warm-up is over (the virtual network stops running then).</summary>
        public TimeSpan Now;
        private readonly byte[] _buf = new byte[2048];

        public Harness(int mode, int threshold = 0)
        {
            P.ConnectBoth();
            // Warm-up: a bulk transfer grows A's congestion window, so one flight holds the packets a test feeds.
            for (int i = 0; i < 8; i++) P.A.Send(0, 53, new byte[50_000], SctpSendOptions.Reliable, P.Now);
            Assert.True(P.RunUntil(() => P.EventsB.Count(e => e.Kind == SctpEventKind.MessageReceived) == 8 && P.A.FlightSize == 0, TimeSpan.FromSeconds(30)));
            Assert.False(P.B.SackDueNow);
            Now = P.Now;
            Policy = new ReceiveBatchSackPolicy(P.B.DataPacketsReceived) { Mode = mode, Threshold = threshold };
            Assert.False(P.B.TryPollTransmit(_buf, Now, out _)); // nothing owed before the test's packets
        }

        /// <summary>Takes <paramref name="count"/> DATA packets from A (one flight; the virtual network does not run).</summary>
        public List<byte[]> TakeData(int count)
        {
            P.A.Send(0, 53, new byte[count * 1200], SctpSendOptions.Reliable, Now);
            var packets = new List<byte[]>();
            while (packets.Count < count && P.A.TryPollTransmit(_buf, Now, out var t)) packets.Add(_buf.AsSpan(0, t.Length).ToArray());
            Assert.Equal(count, packets.Count);
            Assert.All(packets, pk => Assert.Equal(SctpChunkType.Data, pk[SctpCommonHeader.Length]));
            return packets;
        }

        /// <summary>Feeds one batch the way PeerConnectionCore does; returns every SACK B wrote for it.</summary>
        public List<Sack> Batch(IEnumerable<byte[]> packets)
        {
            var sacks = new List<Sack>();
            int i = 0;
            foreach (var packet in packets)
            {
                P.B.Receive(packet, Now);
                if (Policy.SealAfterPacket(P.B))
                {
                    Assert.True(P.B.TryWriteSackPacket(_buf, out int n));
                    Policy.OnSealed();
                    sacks.Add(Parse(i, _buf.AsSpan(0, n)));
                }
                i++;
            }
            Policy.EndBatch(P.B);
            sacks.AddRange(Flush());
            return sacks;
        }

        /// <summary>What B sends now (the loop's flush, or a timer pass): SACK packets only in these tests.</summary>
        public List<Sack> Flush()
        {
            var sacks = new List<Sack>();
            while (P.B.TryPollTransmit(_buf, Now, out var t)) sacks.Add(Parse(-1, _buf.AsSpan(0, t.Length)));
            return sacks;
        }

        private static Sack Parse(int after, ReadOnlySpan<byte> packet)
        {
            Assert.Equal(SctpChunkType.Sack, packet[SctpCommonHeader.Length]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(SctpCommonHeader.Length + 2));
            Assert.True(SackChunk.TryParse(packet.Slice(SctpCommonHeader.Length + 4, length - 4), out var s));
            return new Sack(after, s.CumulativeTsnAck, s.GapBlockCount);
        }
    }

    private static uint Tsn(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(SctpCommonHeader.Length + 4));

    [Fact]
    public void Adaptive_AShortBatchGetsOneSackAtItsFlush()
    {
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 4);
        var d = h.TakeData(3);
        var sacks = h.Batch(d);
        Assert.Equal([new Sack(-1, Tsn(d[2]), 0)], sacks); // one SACK for all three, none mid-batch
        Assert.Equal(0, h.Policy.SealedMidBatch);
    }

    [Fact]
    public void Adaptive_ALongBatchGetsASackAtTheThresholdThenEverySecondPacket()
    {
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 4);
        var d = h.TakeData(11);
        var sacks = h.Batch(d);
        // Packets 1–3: nothing; the 4th: a SACK for all four; then one per two packets; the odd 11th waits for the flush
        // — and, being a single in-order packet, for the delayed-ack timer (RFC 9260 §6.2).
        Assert.Equal([new Sack(3, Tsn(d[3]), 0), new Sack(5, Tsn(d[5]), 0), new Sack(7, Tsn(d[7]), 0), new Sack(9, Tsn(d[9]), 0)], sacks);
        Assert.Equal(4, h.Policy.SealedMidBatch);
        var start = h.Now;
        var late = new List<Sack>();
        while (late.Count == 0 && h.P.B.NextDeadline is { } due && due <= start + TimeSpan.FromMilliseconds(200))
        {
            h.Now = due > h.Now ? due : h.Now;
            h.P.B.HandleDeadline(h.Now);
            late = h.Flush();
        }
        Assert.Equal([new Sack(-1, Tsn(d[10]), 0)], late);
        Assert.True(h.Now - start <= TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Adaptive_TheThresholdCountsPacketsOfThisBatchOnly()
    {
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 4);
        var d = h.TakeData(14);
        Assert.Equal([3, 5, 7], h.Batch(d.Take(8)).Select(s => s.AfterPacket)); // the 4th, 6th and 8th
        // A new batch starts its count from zero: three packets are one SACK at the flush, not one after the second.
        var second = h.Batch(d.Skip(8).Take(3));
        Assert.Equal([new Sack(-1, Tsn(d[10]), 0)], second);
        // and the next three again.
        Assert.Equal([new Sack(-1, Tsn(d[13]), 0)], h.Batch(d.Skip(11)));
    }

    [Fact]
    public void Adaptive_ThresholdTwoIsEverySecondPacket()
    {
        var a = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 2);
        var b = new Harness(ReceiveBatchSackPolicy.EverySecond);
        var da = a.TakeData(9);
        var db = b.TakeData(9);
        var sa = a.Batch(da);
        var sb = b.Batch(db);
        Assert.Equal(sb.Select(s => s.AfterPacket), sa.Select(s => s.AfterPacket));
        Assert.Equal([1, 3, 5, 7], sa.Select(s => s.AfterPacket));
    }

    [Fact]
    public void Adaptive_AGapInAShortBatchIsReportedAtTheFlush_NotPerPacket()
    {
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 4);
        var d = h.TakeData(4);
        // d[0] is "lost": three packets above a hole.
        var sacks = h.Batch(d.Skip(1));
        Assert.Equal([new Sack(-1, Tsn(d[0]) - 1, 1)], sacks);
        // The hole filled (a batch of one packet): the SACK saying so goes out at that batch's flush.
        Assert.Equal([new Sack(-1, Tsn(d[3]), 0)], h.Batch([d[0]]));
    }

    [Fact]
    public void OtherModes_KeepTheirEarlierBehaviour()
    {
        // One SACK per batch, whatever its length.
        var one = new Harness(ReceiveBatchSackPolicy.OnePerBatch);
        var d1 = one.TakeData(10);
        Assert.Equal([new Sack(-1, Tsn(d1[9]), 0)], one.Batch(d1));

        // Every second packet (session 16): a gap's SACK waits for the flush.
        var second = new Harness(ReceiveBatchSackPolicy.EverySecond);
        var d2 = second.TakeData(5);
        var s2 = second.Batch(d2.Skip(1));
        Assert.Equal([1, 3], s2.Select(s => s.AfterPacket)); // the 1st and 3rd fed are owed (gap) but wait; nothing left for the flush
        Assert.All(s2, s => Assert.Equal(1, s.Gaps));

        // Every owed SACK (sessions 14–15): one per packet while the gap is open.
        var owed = new Harness(ReceiveBatchSackPolicy.EveryOwed);
        var d3 = owed.TakeData(4);
        var s3 = owed.Batch(d3.Skip(1));
        Assert.Equal([0, 1, 2], s3.Select(s => s.AfterPacket));
        Assert.All(s3, s => Assert.Equal(1, s.Gaps));
    }

    [Fact]
    public void Adaptive_WithoutAThresholdUsesTheDefaultOne()
    {
        Assert.Equal(ReceiveBatchSackPolicy.DefaultPolicy, new ReceiveBatchSackPolicy().Effective); // mode 0 = the default
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive);
        int n = ReceiveBatchSackPolicy.DefaultThreshold;
        var d = h.TakeData(n + 3);
        // n − 1 packets: one SACK at the flush; then a batch of n + 4... here: the rest (4 packets) again one at the flush.
        Assert.Equal([new Sack(-1, Tsn(d[n - 2]), 0)], h.Batch(d.Take(n - 1)));
        Assert.Equal([new Sack(-1, Tsn(d[n + 2]), 0)], h.Batch(d.Skip(n - 1)));
        var h2 = new Harness(ReceiveBatchSackPolicy.Adaptive);
        var d2 = h2.TakeData(n + 2);
        Assert.Equal([n - 1, n + 1], h2.Batch(d2).Select(s => s.AfterPacket)); // a long batch: at the threshold, then every second
    }

    [Fact]
    public void BatchSizesAreCountedPerFlush()
    {
        var h = new Harness(ReceiveBatchSackPolicy.Adaptive, threshold: 4);
        var d = h.TakeData(15);
        h.Batch(d.Take(1));
        h.Batch(d.Skip(1).Take(3));
        h.Batch(d.Skip(4).Take(11));
        h.Policy.EndBatch(h.P.B); // a flush with no DATA in between is no batch
        long[] counts = Enumerable.Range(0, ReceiveBatchSackPolicy.Buckets).Select(h.Policy.BatchesIn).ToArray();
        Assert.Equal(3, counts.Sum());
        Assert.Equal(1, counts[0]);
        Assert.Equal("1", ReceiveBatchSackPolicy.BucketName(0));
        Assert.Equal(1, counts[Array.IndexOf(Enumerable.Range(0, ReceiveBatchSackPolicy.Buckets).Select(ReceiveBatchSackPolicy.BucketName).ToArray(), "3")]);
        Assert.Equal(1, counts[Array.IndexOf(Enumerable.Range(0, ReceiveBatchSackPolicy.Buckets).Select(ReceiveBatchSackPolicy.BucketName).ToArray(), "9-12")]);
        Assert.Contains("batches [1:1 2:0 3:1 ", h.Policy.DebugState, StringComparison.Ordinal);
    }
}
