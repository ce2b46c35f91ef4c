using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// Issue 14, session 15: while a gap is open the receiver SACKs when the gap opens, when it closes, and otherwise every
/// second packet — not after every packet (dcsctp's sender resends a retransmitted chunk after three more SACKs that
/// acknowledge something above it, so a SACK per packet made Chromium resend chunks whose retransmission was still in
/// flight). <see cref="SctpOptions.SackEveryPacketInGap"/> keeps the previous behaviour for A/B benches.
/// </summary>
public class SctpSackInGapTests
{
    private static (SctpTestPair Pair, List<byte[]> Packets) EightPackets(SctpOptions? receiver = null)
    {
        var p = new SctpTestPair(b: receiver);
        p.ConnectBoth();
        // A first exchange of 8 x 16 KB: the next DATA is not the association's first (acknowledged on its own rules),
        // and A's congestion window has grown past the initial 4 packets.
        for (int i = 0; i < 8; i++) p.A.Send(0, 53, new byte[16000], SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => p.EventsB.Count(e => e.Kind == SctpEventKind.MessageReceived) == 8 && p.A.FlightSize == 0, TimeSpan.FromSeconds(5)));
        Assert.False(p.B.SackDueNow);
        var payload = new byte[12000];
        new Random(15).NextBytes(payload);
        p.A.Send(0, 53, payload, SctpSendOptions.Reliable, p.Now);
        var packets = new List<byte[]>();
        var buf = new byte[2048];
        while (packets.Count < 8 && p.A.TryPollTransmit(buf, p.Now, out var t)) packets.Add(buf.AsSpan(0, t.Length).ToArray());
        Assert.Equal(8, packets.Count);
        Assert.All(packets, pk => Assert.Equal(SctpChunkType.Data, pk[SctpCommonHeader.Length]));
        return (p, packets);
    }

    private static SackChunk TakeSack(SctpTestPair p, byte[] buffer)
    {
        Assert.True(p.B.TryWriteSackPacket(buffer, out int n));
        Assert.Equal(SctpChunkType.Sack, buffer[SctpCommonHeader.Length]);
        Assert.True(SackChunk.TryParse(buffer.AsSpan(SctpCommonHeader.Length + 4, n - SctpCommonHeader.Length - 4), out var s));
        return s;
    }

    [Fact]
    public void InAGap_SackAtOpen_ThenEverySecondPacket_AndAtOnceWhenItCloses()
    {
        var (p, packets) = EightPackets();
        var sack = new byte[1200];
        // packets[0] is "lost": packets[1] opens the gap — owed at once, with one gap block.
        p.B.Receive(packets[1], p.Now);
        Assert.True(p.B.SackDueNow);
        var s = TakeSack(p, sack);
        Assert.Equal(1, s.GapBlockCount);
        // The gap stays open: the next packet alone owes nothing, the second one does.
        p.B.Receive(packets[2], p.Now);
        Assert.False(p.B.SackDueNow);
        p.B.Receive(packets[3], p.Now);
        Assert.True(p.B.SackDueNow);
        s = TakeSack(p, sack);
        Assert.Equal(1, s.GapBlockCount);
        Assert.Equal((ushort)2, s.GapBlock(0).Start);
        Assert.Equal((ushort)4, s.GapBlock(0).End);
        p.B.Receive(packets[4], p.Now);
        Assert.False(p.B.SackDueNow);
        // The retransmission fills the hole: owed at once (the cumulative TSN jumps), no gap left.
        p.B.Receive(packets[0], p.Now);
        Assert.True(p.B.SackDueNow);
        s = TakeSack(p, sack);
        Assert.Equal(0, s.GapBlockCount);
        // In order again: every second packet.
        p.B.Receive(packets[5], p.Now);
        Assert.False(p.B.SackDueNow);
        p.B.Receive(packets[6], p.Now);
        Assert.True(p.B.SackDueNow);
    }

    [Fact]
    public void ADuplicateIsStillAnsweredAtOnce_EvenInAGap()
    {
        var (p, packets) = EightPackets();
        var sack = new byte[1200];
        p.B.Receive(packets[1], p.Now);
        TakeSack(p, sack);
        p.B.Receive(packets[1], p.Now); // only a duplicate: RFC 9260 §6.2 MUST SACK at once
        Assert.True(p.B.SackDueNow);
        var s = TakeSack(p, sack);
        Assert.Equal(1, s.DuplicateCount);
    }

    [Fact]
    public void PreviousBehaviour_ASackAfterEveryPacketInAGap()
    {
        var (p, packets) = EightPackets(new SctpOptions { SackEveryPacketInGap = true });
        var sack = new byte[1200];
        p.B.Receive(packets[1], p.Now);
        Assert.True(p.B.SackDueNow);
        TakeSack(p, sack);
        for (int i = 2; i < 5; i++)
        {
            p.B.Receive(packets[i], p.Now);
            Assert.True(p.B.SackDueNow);
            Assert.Equal(1, TakeSack(p, sack).GapBlockCount);
        }
    }
}
