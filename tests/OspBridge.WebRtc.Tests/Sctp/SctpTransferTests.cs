using System.Security.Cryptography;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;
using Xunit.Abstractions;

namespace OspBridge.WebRtc.Tests.Sctp;

public class SctpTransferTests(ITestOutputHelper output)
{
    private static SctpOptions Opt(bool client) => new() { IsDtlsClient = client, RemoteMaxMessageSize = 262_144 };

    private static (long Received, byte[] Hash, TimeSpan Elapsed, SctpTestPair Pair) Transfer(long total, int messageSize, VirtualLinkOptions ab, VirtualLinkOptions ba, int seed, int mtu = 1200)
    {
        var p = new SctpTestPair(Opt(true) with { Mtu = mtu }, Opt(false) with { Mtu = mtu }, ab, ba);
        p.ConnectBoth();
        var start = p.Now;
        var rnd = new Random(seed);
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var recvHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long sent = 0, received = 0;
        int consumed = 0;
        p.OnStep = pair =>
        {
            while (sent < total && pair.A.SendBufferUsed < 2_000_000)
            {
                int n = (int)Math.Min(messageSize - rnd.Next(messageSize / 2), total - sent);
                var m = new byte[n];
                rnd.NextBytes(m);
                sentHash.AppendData(m);
                pair.A.Send(1, 53, m, SctpSendOptions.Reliable, pair.Now);
                sent += n;
            }
            for (; consumed < pair.EventsB.Count; consumed++)
            {
                var e = pair.EventsB[consumed];
                if (e.Kind == SctpEventKind.MessageReceived)
                {
                    recvHash.AppendData(e.Data!);
                    received += e.Data!.Length;
                }
            }
            pair.EventsB.Clear();
            consumed = 0;
        };
        Assert.True(p.RunUntil(() => received == total, TimeSpan.FromHours(2)), $"received {received} of {total}; A={p.A.State} B={p.B.State}");
        Assert.Equal(sentHash.GetHashAndReset(), recvHash.GetHashAndReset());
        return (received, sentHash.GetHashAndReset(), p.Now - start, p);
    }

    [Fact]
    public void TenMegabytes_ByteExact_Under10PercentLossReorderingAndDuplication()
    {
        var ab = new VirtualLinkOptions { LossRate = 0.10, ReorderRate = 0.10, DuplicateRate = 0.05, Delay = TimeSpan.FromMilliseconds(10), Seed = 11 };
        var ba = new VirtualLinkOptions { LossRate = 0.10, ReorderRate = 0.10, DuplicateRate = 0.05, Delay = TimeSpan.FromMilliseconds(10), Seed = 12 };
        var (received, _, elapsed, p) = Transfer(10_000_000, 65_536, ab, ba, 5);
        Assert.Equal(10_000_000, received);
        output.WriteLine($"virtual {elapsed}, dropped {p.AtoB.Dropped}/{p.AtoB.Sent}, rtx {p.A.RetransmittedChunks}, cwnd {p.A.CongestionWindow}, rto {p.A.Rto}");
        Assert.True(p.AtoB.Dropped > 100 && p.AtoB.Reordered > 100 && p.AtoB.Duplicated > 50, "the link must actually impair");
        Assert.True(p.A.RetransmittedChunks > 0);
        Assert.True(p.MaxPacketSeen <= 1200);
        Assert.Equal(SctpState.Established, p.A.State);
    }

    [Fact]
    public void TenMegabytes_CleanLink_GrowsCongestionWindow()
    {
        var link = new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(10), Seed = 3 };
        var (received, _, elapsed, p) = Transfer(10_000_000, 262_144, link, link with { Seed = 4 }, 6);
        Assert.Equal(10_000_000, received);
        output.WriteLine($"virtual {elapsed}, packets {p.AtoB.Sent}, cwnd {p.A.CongestionWindow}, srtt {p.A.SmoothedRtt}");
        Assert.Equal(0, p.A.RetransmittedChunks);
        Assert.True(p.A.CongestionWindow > 100_000, $"cwnd {p.A.CongestionWindow}");
        // 10 MB over a 20 ms RTT path with a 1 MiB window must take well under 10 s of virtual time.
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"took {elapsed}");
    }

    [Theory]
    [InlineData(1163)] // 1200 minus the DTLS 1.2 AES-GCM record overhead: what RTCPeerConnection uses
    [InlineData(1201)]
    [InlineData(1202)]
    public void MtuNotAMultipleOfFour_FragmentedMessagesStillFit(int mtu)
    {
        // Regression: a DATA chunk sized to fill an unaligned MTU overran the packet by its padding.
        var (received, _, _, p) = Transfer(200_000, 2_000, new VirtualLinkOptions { Seed = 5 }, new VirtualLinkOptions { Seed = 6 }, 7, mtu);
        Assert.Equal(200_000, received);
        Assert.True(p.MaxPacketSeen <= mtu, $"packet of {p.MaxPacketSeen} bytes exceeds MTU {mtu}");
    }
}
