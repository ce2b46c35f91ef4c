using System.Security.Cryptography;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;
using Xunit.Abstractions;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// Max.Burst (RFC 9260 §6.1: at most Max.Burst packets with DATA per send opportunity) and receive-side back-pressure
/// (RFC 9260 §6.2: bytes the application holds keep a_rwnd closed), on the seeded virtual network.
/// </summary>
public class SctpBurstAndBackPressureTests(ITestOutputHelper output)
{
    private static SctpOptions Opt(bool client, int maxBurst) => new() { IsDtlsClient = client, RemoteMaxMessageSize = 262_144, Mtu = 1191, MaxBurst = maxBurst };

    /// <summary>
    /// 8 MiB A → B at 1 % loss: counts, outside the association, the packets with DATA that A writes between two inputs
    /// (a received packet or a timer). With Max.Burst 4 no run is longer than 4; without the limit the same seeded
    /// transfer has longer runs (a SACK that fills a hole opens the window at once) — so the count measures something.
    /// Both transfers are byte-exact.
    /// </summary>
    [Theory]
    [InlineData(4)]
    [InlineData(0)]
    public void Data_packets_per_input_are_limited_by_max_burst(int maxBurst)
    {
        var ab = new VirtualLinkOptions { LossRate = 0.01, Delay = TimeSpan.FromMilliseconds(5), Seed = 41 };
        var ba = new VirtualLinkOptions { LossRate = 0.01, Delay = TimeSpan.FromMilliseconds(5), Seed = 42 };
        var p = new SctpTestPair(Opt(true, maxBurst), Opt(false, maxBurst), ab, ba);
        p.ConnectBoth();
        int run = 0, maxRun = 0;
        p.OnInput = isB => { if (!isB) run = 0; };
        p.OnPacket = (isB, packet) =>
        {
            if (!isB && HasData(packet.Span)) maxRun = Math.Max(maxRun, ++run);
        };
        var (received, match) = Transfer(p, 8L << 20, seed: 7, onSend: () => run = 0); // a send is an input too
        output.WriteLine($"maxBurst {maxBurst}: longest run {maxRun} packets, association's MaxBurstPackets {p.A.MaxBurstPackets}, burst stops {p.A.BurstLimitStops}, " +
            $"fast recoveries {p.A.FastRecoveries}, T3 {p.A.T3Expiries}, rtx {p.A.RetransmittedChunks}, dropped {p.AtoB.Dropped}/{p.AtoB.Sent}, cwnd {p.A.CongestionWindow}, virtual {p.Now}");
        Assert.Equal(8L << 20, received);
        Assert.True(match, "received bytes differ from sent bytes");
        Assert.True(p.AtoB.Dropped > 0, "the link must lose packets");
        if (maxBurst > 0)
        {
            Assert.InRange(maxRun, 1, maxBurst);
            Assert.InRange(p.A.MaxBurstPackets, 1, maxBurst);
            Assert.True(p.A.BurstLimitStops > 0, "the limit never applied");
        }
        else
        {
            Assert.True(maxRun > 4, $"without Max.Burst the longest run was only {maxRun}");
            Assert.Equal(maxRun, p.A.MaxBurstPackets);
        }
    }

    /// <summary>
    /// B's application takes every message but does not consume it (holds it, like a queue nobody reads): A's sending
    /// stops at B's window, what B holds stays within its 1 MiB receive window, and nothing more arrives however long
    /// it runs. Then B consumes everything: the transfer resumes and completes byte-exact and in order.
    /// </summary>
    [Fact]
    public void A_reader_that_stops_closes_the_window_and_the_sender_resumes_when_it_reads()
    {
        var link = new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(2), Seed = 51 };
        var p = new SctpTestPair(Opt(true, 4), Opt(false, 4), link, link with { Seed = 52 });
        p.ConnectBoth();
        const long total = 8L << 20;
        const int size = 65_536;
        var rnd = new Random(9);
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var recvHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var held = new Queue<byte[]>();
        long sent = 0, taken = 0, consumed = 0;
        bool reading = false;
        p.OnStep = pair =>
        {
            while (sent < total && pair.A.SendBufferUsed < 4_000_000)
            {
                var m = new byte[size];
                rnd.NextBytes(m);
                sentHash.AppendData(m);
                pair.A.Send(1, 53, m, SctpSendOptions.Reliable, pair.Now);
                sent += size;
            }
            foreach (var e in pair.EventsB)
            {
                if (e.Kind == SctpEventKind.MessageReceived)
                {
                    pair.B.HoldReceived(e.Data!.Length); // queued for the application, not consumed
                    held.Enqueue(e.Data!);
                    taken += e.Data!.Length;
                }
            }
            pair.EventsB.Clear();
            while (reading && held.TryDequeue(out var m))
            {
                recvHash.AppendData(m);
                consumed += m.Length;
                pair.B.ReleaseReceived(m.Length);
            }
        };

        // Not reading: runs until nothing new arrives for 5 virtual seconds.
        long last = -1;
        var since = p.Now;
        p.RunUntil(() =>
        {
            if (taken != last) { last = taken; since = p.Now; }
            return p.Now - since > TimeSpan.FromSeconds(5);
        }, TimeSpan.FromSeconds(30));
        long stalledAt = taken;
        output.WriteLine($"stopped reading: B took {taken} B, holds {p.B.ReceiveHeld} B (+{p.B.ReceiveBufferUsed} in the association); A flight {p.A.FlightSize}, unsent {p.A.BufferedAmount}, rtx {p.A.RetransmittedChunks}, T3 {p.A.T3Expiries}");
        Assert.Equal(0, consumed);
        Assert.True(stalledAt > 0 && stalledAt < total, $"took {stalledAt}");
        Assert.True(p.Now - since > TimeSpan.FromSeconds(5), "data kept arriving while the reader did not read");
        Assert.InRange(p.B.ReceiveHeld, 1, 1 << 20);
        Assert.InRange(p.B.ReceiveHeld + p.B.ReceiveBufferUsed, 1, 1 << 20);
        Assert.True(p.A.BufferedAmount > 0, "the sender should still have data it could not send");
        Assert.InRange(p.A.FlightSize, 0, 2 * 1191); // at most a zero-window probe outstanding

        // Reading again: everything arrives.
        reading = true;
        Assert.True(p.RunUntil(() => consumed == total, TimeSpan.FromSeconds(120)), $"consumed {consumed} of {total} after resuming");
        output.WriteLine($"resumed: consumed {consumed}, A rtx {p.A.RetransmittedChunks}, T3 {p.A.T3Expiries}, virtual {p.Now}");
        Assert.Equal(sentHash.GetHashAndReset(), recvHash.GetHashAndReset());
        Assert.Equal(0, p.B.ReceiveHeld);
        Assert.Equal(SctpState.Established, p.A.State);
        Assert.Equal(SctpState.Established, p.B.State);
    }

    private static bool HasData(ReadOnlySpan<byte> packet)
    {
        var r = new SctpChunkReader(packet.Slice(SctpCommonHeader.Length));
        while (r.TryRead(out byte type, out _, out _))
        {
            if (type == SctpChunkType.Data) return true;
        }
        return false;
    }

    private static (long Received, bool Match) Transfer(SctpTestPair p, long total, int seed, Action onSend)
    {
        const int size = 65_536;
        var rnd = new Random(seed);
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var recvHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long sent = 0, received = 0;
        p.OnStep = pair =>
        {
            while (sent < total && pair.A.SendBufferUsed < 2_000_000)
            {
                var m = new byte[size];
                rnd.NextBytes(m);
                sentHash.AppendData(m);
                pair.A.Send(1, 53, m, SctpSendOptions.Reliable, pair.Now);
                onSend();
                sent += size;
            }
            foreach (var e in pair.EventsB)
            {
                if (e.Kind == SctpEventKind.MessageReceived)
                {
                    recvHash.AppendData(e.Data!);
                    received += e.Data!.Length;
                }
            }
            pair.EventsB.Clear();
        };
        Assert.True(p.RunUntil(() => received == total, TimeSpan.FromMinutes(30)), $"received {received} of {total}; A={p.A.State} B={p.B.State}");
        return (received, sentHash.GetHashAndReset().AsSpan().SequenceEqual(recvHash.GetHashAndReset()));
    }
}
