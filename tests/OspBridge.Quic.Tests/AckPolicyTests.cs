using OspBridge.Net.Core;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;

namespace OspBridge.Quic.Tests;

/// <summary>
/// The receiver's ACK policy (RFC 9000 §13.2.1–13.2.2) in virtual time, driving the two cores by hand after the
/// handshake: every second ack-eliciting packet is acknowledged at once, a lone one within max_ack_delay, a gap or a
/// reordered packet at once; and all packets handed to the core before it is polled (one receive batch) get one ACK
/// (RFC 9000 §13.2.2: a receiver MAY process multiple available packets before deciding to send an ACK) — the loop
/// polls once per batch, so the ACK count follows the batch size.
/// </summary>
public sealed class AckPolicyTests
{
    private static readonly DatagramPath ToClient = new(QuicPair.ClientAddress, QuicPair.ServerAddress);
    private static readonly DatagramPath ToServer = new(QuicPair.ServerAddress, QuicPair.ClientAddress);

    /// <summary>A connected pair with nothing left to send, and a flight of 1-RTT datagrams from the server (stream data) not yet delivered.</summary>
    private static (QuicPair Pair, List<byte[]> Flight, TimeSpan Now) ConnectedWithFlight(int minimum)
    {
        var pair = new QuicPair();
        Assert.True(pair.Handshake());
        pair.RunUntil(() => false, TimeSpan.FromSeconds(1)); // HANDSHAKE_DONE, CIDs and their ACKs settle
        var now = pair.Now;
        var server = pair.Server!;
        long id = server.OpenStream(bidirectional: false);
        Assert.True(id >= 0);
        Assert.Equal(64 * 1024, server.StreamWrite(id, new byte[64 * 1024], fin: false));
        var flight = new List<byte[]>();
        var buf = new byte[2048];
        while (server.TryPollTransmit(buf, now, out var t)) flight.Add(buf[..t.Length]);
        Assert.True(flight.Count >= minimum, $"the server sent {flight.Count} datagrams, the test needs {minimum}");
        Assert.False(pair.Client.TryPollTransmit(buf, now, out _)); // the client has nothing pending
        return (pair, flight, now);
    }

    private static int PollAll(ConnectionCore core, TimeSpan now, List<byte[]>? sink = null)
    {
        var buf = new byte[2048];
        int n = 0;
        while (core.TryPollTransmit(buf, now, out var t))
        {
            sink?.Add(buf[..t.Length]);
            n++;
        }
        return n;
    }

    [Fact]
    public void ABatch_OfManyPackets_GetsOneAck_ThatAcknowledgesThemAll()
    {
        var (pair, flight, now) = ConnectedWithFlight(minimum: 8);
        long received = pair.Client.PacketsReceived;
        foreach (var d in flight) pair.Client.Receive(d, ToClient, now);
        Assert.Equal(flight.Count, pair.Client.PacketsReceived - received);
        var acks = new List<byte[]>();
        Assert.Equal(1, PollAll(pair.Client, now, acks));
        Assert.True(pair.Server!.Congestion.BytesInFlight > 0);
        foreach (var a in acks) pair.Server.Receive(a, ToServer, now + TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, pair.Server.Congestion.BytesInFlight); // every packet of the flight acknowledged
    }

    [Fact]
    public void OnePacketAtATime_EverySecondOneIsAcknowledgedAtOnce()
    {
        var (pair, flight, now) = ConnectedWithFlight(minimum: 8);
        int count = flight.Count & ~1;
        var acksAfter = new List<int>();
        for (int i = 0; i < count; i++)
        {
            pair.Client.Receive(flight[i], ToClient, now);
            int n = PollAll(pair.Client, now);
            Assert.InRange(n, 0, 1);
            if (n == 1) acksAfter.Add(i + 1);
        }
        Assert.Equal(Enumerable.Range(1, count / 2).Select(k => 2 * k), acksAfter);
    }

    [Fact]
    public void ALonePacket_IsAcknowledgedAtMaxAckDelay()
    {
        var (pair, flight, now) = ConnectedWithFlight(minimum: 1);
        var client = pair.Client;
        client.Receive(flight[0], ToClient, now);
        Assert.Equal(0, PollAll(client, now));
        var maxAckDelay = new CoreOptions().MaxAckDelay;
        Assert.Equal(now + maxAckDelay, client.NextDeadline);
        Assert.Equal(0, PollAll(client, now + maxAckDelay - TimeSpan.FromTicks(1)));
        var at = now + maxAckDelay;
        client.HandleDeadline(at);
        var acks = new List<byte[]>();
        Assert.Equal(1, PollAll(client, at, acks));
        long before = pair.Server!.Congestion.BytesInFlight;
        pair.Server.Receive(acks[0], ToServer, at);
        Assert.Equal(before - flight[0].Length, pair.Server.Congestion.BytesInFlight); // exactly the first packet
    }

    [Fact]
    public void AGap_AndAReorderedPacket_AreAcknowledgedAtOnce()
    {
        var (pair, flight, now) = ConnectedWithFlight(minimum: 4);
        var client = pair.Client;
        client.Receive(flight[1], ToClient, now); // packet 0 missing: a gap
        Assert.Equal(1, PollAll(client, now));
        client.Receive(flight[0], ToClient, now); // below the largest received: reordered
        Assert.Equal(1, PollAll(client, now));
        client.Receive(flight[2], ToClient, now); // in order again, one packet since the last ACK: delayed
        Assert.Equal(0, PollAll(client, now));
        client.Receive(flight[3], ToClient, now); // the second one: at once
        var acks = new List<byte[]>();
        Assert.Equal(1, PollAll(client, now, acks));
        long before = pair.Server!.Congestion.BytesInFlight;
        pair.Server.Receive(acks[0], ToServer, now);
        Assert.Equal(before - flight.Take(4).Sum(d => (long)d.Length), pair.Server.Congestion.BytesInFlight);
    }
}
