using System.Buffers.Binary;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// RFC 9260 §6.2 ("an acknowledgement SHOULD be generated for at least every second packet"): a driver that feeds a
/// batch of packets before it sends asks <see cref="SctpAssociation.SackDueNow"/> after each one and takes the owed SACK
/// with <see cref="SctpAssociation.TryWriteSackPacket"/> (issue 14, session 14: PeerConnectionCore does this mid-batch).
/// </summary>
public class SctpSackEverySecondPacketTests
{
    [Fact]
    public void SackIsOwedAfterEverySecondDataPacket_AndCoversThem()
    {
        var p = new SctpTestPair();
        p.ConnectBoth();
        // A first exchange, so the next DATA is not the association's first (which is acknowledged on its own rules).
        p.A.Send(0, 53, new byte[10], SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => p.EventsB.Any(e => e.Kind == SctpEventKind.MessageReceived) && p.A.FlightSize == 0, TimeSpan.FromSeconds(5)));
        Assert.False(p.B.SackDueNow);

        // Three DATA packets taken straight from A (the virtual network does not run meanwhile).
        var payload = new byte[3000];
        new Random(14).NextBytes(payload);
        p.A.Send(0, 53, payload, SctpSendOptions.Reliable, p.Now);
        var packets = new List<byte[]>();
        var buf = new byte[2048];
        while (packets.Count < 3 && p.A.TryPollTransmit(buf, p.Now, out var t)) packets.Add(buf.AsSpan(0, t.Length).ToArray());
        Assert.Equal(3, packets.Count);
        Assert.All(packets, pk => Assert.Equal(SctpChunkType.Data, pk[SctpCommonHeader.Length]));
        static uint Tsn(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(SctpCommonHeader.Length + 4));

        var sack = new byte[1200];
        p.B.Receive(packets[0], p.Now);
        Assert.False(p.B.SackDueNow); // one packet: the delayed SACK may wait
        Assert.False(p.B.TryWriteSackPacket(sack, out _));
        p.B.Receive(packets[1], p.Now);
        Assert.True(p.B.SackDueNow); // the second packet: owed now
        Assert.True(p.B.TryWriteSackPacket(sack, out int n));
        Assert.True(SctpCommonHeader.TryRead(sack.AsSpan(0, n), out _));
        Assert.Equal(SctpChunkType.Sack, sack[SctpCommonHeader.Length]);
        Assert.True(SackChunk.TryParse(sack.AsSpan(SctpCommonHeader.Length + 4, n - SctpCommonHeader.Length - 4), out var s));
        Assert.Equal(Tsn(packets[1]), s.CumulativeTsnAck);
        Assert.Equal(0, s.GapBlockCount);
        Assert.False(p.B.SackDueNow); // written: nothing owed until two more packets (or a gap) arrive
        p.B.Receive(packets[2], p.Now);
        Assert.False(p.B.SackDueNow);

        // The SACK is a valid packet for A: it acknowledges the first two.
        p.A.Receive(sack.AsSpan(0, n), default, p.Now);
        Assert.True(p.A.FlightSize > 0 && p.A.FlightSize <= packets[2].Length);
    }

    [Fact]
    public void AGapMakesTheSackOwedAtOnce()
    {
        var p = new SctpTestPair();
        p.ConnectBoth();
        p.A.Send(0, 53, new byte[10], SctpSendOptions.Reliable, p.Now);
        Assert.True(p.RunUntil(() => p.EventsB.Any(e => e.Kind == SctpEventKind.MessageReceived) && p.A.FlightSize == 0, TimeSpan.FromSeconds(5)));
        p.A.Send(0, 53, new byte[3000], SctpSendOptions.Reliable, p.Now);
        var packets = new List<byte[]>();
        var buf = new byte[2048];
        while (packets.Count < 2 && p.A.TryPollTransmit(buf, p.Now, out var t)) packets.Add(buf.AsSpan(0, t.Length).ToArray());
        Assert.Equal(2, packets.Count);
        p.B.Receive(packets[1], p.Now); // the first is "lost"
        Assert.True(p.B.SackDueNow);
        var sack = new byte[1200];
        Assert.True(p.B.TryWriteSackPacket(sack, out int n));
        Assert.True(SackChunk.TryParse(sack.AsSpan(SctpCommonHeader.Length + 4, n - SctpCommonHeader.Length - 4), out var s));
        Assert.Equal(1, s.GapBlockCount);
        Assert.Equal((ushort)2, s.GapBlock(0).Start);
    }
}
