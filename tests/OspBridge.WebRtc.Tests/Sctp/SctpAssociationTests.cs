using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

public class SctpAssociationTests
{
    private static SctpOptions Opt(bool client, int maxMessage = 262_144) => new()
    {
        IsDtlsClient = client,
        MaxMessageSize = maxMessage,
        RemoteMaxMessageSize = maxMessage,
    };

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void Handshake_BothSidesConnect_InitCollision_Establishes()
    {
        var p = new SctpTestPair(Opt(true), Opt(false));
        p.ConnectBoth();
        Assert.Contains(p.EventsA, e => e.Kind == SctpEventKind.Connected);
        Assert.Contains(p.EventsB, e => e.Kind == SctpEventKind.Connected);
        Assert.Equal(1024, p.A.OutboundStreamCount);
        Assert.True(p.A.PeerSupportsForwardTsn && p.A.PeerSupportsStreamReset);
        Assert.True(p.B.PeerSupportsForwardTsn && p.B.PeerSupportsStreamReset);
    }

    [Fact]
    public void Handshake_OnlyOneSideConnects_PeerAnswersStatelessly()
    {
        var p = new SctpTestPair(Opt(true), Opt(false));
        p.A.Connect(p.Now);
        Assert.True(p.RunUntil(() => p.A.State == SctpState.Established && p.B.State == SctpState.Established));
    }

    [Fact]
    public void Handshake_NegotiatesStreamCountsDown()
    {
        var p = new SctpTestPair(Opt(true) with { OutboundStreams = 10, InboundStreams = 20 }, Opt(false) with { OutboundStreams = 300, InboundStreams = 7 });
        p.ConnectBoth();
        Assert.Equal(7, p.A.OutboundStreamCount);
        Assert.Equal(20, p.A.InboundStreamCount);
        Assert.Equal(20, p.B.OutboundStreamCount);
        Assert.Equal(7, p.B.InboundStreamCount);
    }

    [Fact]
    public void Handshake_SurvivesHeavyLoss()
    {
        var p = new SctpTestPair(Opt(true), Opt(false), new VirtualLinkOptions { LossRate = 0.5, Seed = 7 }, new VirtualLinkOptions { LossRate = 0.5, Seed = 8 });
        p.A.Connect(p.Now);
        p.B.Connect(p.Now);
        Assert.True(p.RunUntil(() => p.A.State == SctpState.Established && p.B.State == SctpState.Established, TimeSpan.FromSeconds(120)));
    }

    [Fact]
    public void Handshake_NoPeer_FailsAfterMaxInitRetransmits()
    {
        var p = new SctpTestPair(Opt(true) with { MaxInitRetransmits = 3 }, Opt(false), new VirtualLinkOptions { LossRate = 1.0 });
        p.A.Connect(p.Now);
        Assert.True(p.RunUntil(() => p.EventsA.Any(e => e.Kind == SctpEventKind.Aborted), TimeSpan.FromSeconds(120)));
        Assert.Equal(WebRtcError.Timeout, p.EventsA.Single(e => e.Kind == SctpEventKind.Aborted).Error);
        Assert.Equal(SctpState.Closed, p.A.State);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(1_152)]
    [InlineData(1_153)]
    [InlineData(4_000)]
    [InlineData(65_536)]
    [InlineData(262_144)]
    public void ReliableOrdered_MessagesOfEverySize_ArriveIntact(int size)
    {
        var p = new SctpTestPair(Opt(true), Opt(false));
        p.ConnectBoth();
        var msgs = Enumerable.Range(0, 5).Select(i => Pattern(size, i)).ToList();
        foreach (var m in msgs)
        {
            p.A.Send(3, 53, m, SctpSendOptions.Reliable, p.Now);
        }
        Assert.True(p.RunUntil(() => p.EventsB.Count(e => e.Kind == SctpEventKind.MessageReceived) == msgs.Count));
        var got = p.EventsB.Where(e => e.Kind == SctpEventKind.MessageReceived).ToList();
        for (int i = 0; i < msgs.Count; i++)
        {
            Assert.Equal(3, got[i].StreamId);
            Assert.Equal(53u, got[i].Ppid);
            Assert.Equal(msgs[i], got[i].Data);
        }
        Assert.True(p.MaxPacketSeen <= 1200, $"packet of {p.MaxPacketSeen} bytes");
    }
}
