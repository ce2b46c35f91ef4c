using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;
using OspBridge.Testing.Virtual;

namespace OspBridge.Quic.Tests;

/// <summary>The connection core behind the shared <see cref="IProtocolCore{TEvent}"/> contract: injected randomness, addressing, core-owned timers.</summary>
public class CoreContractTests
{
    private static (byte[] Datagram, byte[] Cid) FirstInitial(ulong seed)
    {
        var client = ConnectionCore.CreateClient(new CoreOptions { Random = new SeededRandomNumberGenerator(seed) }, FakeTlsHandshake.Factory(true), QuicPair.ServerAddress);
        client.Start(TimeSpan.Zero);
        var buf = new byte[1500];
        Assert.True(client.TryPollTransmit(buf, TimeSpan.Zero, out var tx));
        return (buf[..tx.Length], client.LocalConnectionId);
    }

    [Fact]
    public void Randomness_ComesFromTheInjectedGenerator()
    {
        var a = FirstInitial(42);
        var b = FirstInitial(42);
        var c = FirstInitial(43);
        Assert.Equal(a.Cid, b.Cid);
        Assert.Equal(a.Datagram, b.Datagram); // CIDs, Initial keys and payload: all a function of the seed
        Assert.NotEqual(a.Cid, c.Cid);
        Assert.NotEqual(a.Datagram, c.Datagram);
    }

    [Fact]
    public void Transmits_AreAddressedToThePeer_TheServerLearnsItFromTheFirstDatagram()
    {
        var pair = new QuicPair();
        Assert.True(pair.Handshake());
        Assert.Equal(QuicPair.ServerAddress, pair.Client.PeerAddress);
        Assert.Equal(QuicPair.ClientAddress, pair.Server!.PeerAddress);
        Assert.Equal(0, pair.ClientNode.Unroutable);
        Assert.Equal(0, pair.ServerNode.Unroutable);
    }

    [Fact]
    public void Deadline_IsNullOnceClosed_AndSetWhileHandshaking()
    {
        var pair = new QuicPair();
        Assert.NotNull(pair.Client.NextDeadline);
        Assert.True(pair.Handshake());
        pair.Client.Close(0, pair.Now);
        Assert.True(pair.RunUntil(() => pair.Client.State == CoreState.Closed, TimeSpan.FromSeconds(30)));
        Assert.Null(pair.Client.NextDeadline);
    }

    [Fact]
    public void HandshakeTimeout_IsACoreTimer()
    {
        var blackHole = new VirtualLinkOptions { Seed = 1, Filter = _ => false };
        var pair = new QuicPair(up: blackHole, clientOptions: new CoreOptions { HandshakeTimeout = TimeSpan.FromSeconds(3) });
        var start = pair.Now;
        Assert.True(pair.RunUntil(() => pair.Client.State == CoreState.Closed, TimeSpan.FromSeconds(60)));
        Assert.Equal(QuicError.ConnectionTimeout, pair.Client.CloseReason!.QuicError);
        Assert.InRange((pair.Now - start).TotalSeconds, 2.99, 3.5);
        Assert.Contains(pair.ClientEvents, e => e.Kind == CoreEventKind.Closed);
    }

    [Fact]
    public void KeepAlive_KeepsAnIdleConnectionOpen()
    {
        var o = () => new CoreOptions { IdleTimeout = TimeSpan.FromSeconds(3), KeepAliveInterval = TimeSpan.FromSeconds(1) };
        var pair = new QuicPair(clientOptions: o(), serverOptions: new CoreOptions { IdleTimeout = TimeSpan.FromSeconds(3) });
        Assert.True(pair.Handshake());
        long sent = pair.Client.PacketsSent;
        pair.RunUntil(() => false, TimeSpan.FromSeconds(20));
        Assert.Equal(CoreState.Connected, pair.Client.State);
        Assert.Equal(CoreState.Connected, pair.Server!.State);
        Assert.True(pair.Client.PacketsSent - sent >= 10, $"{pair.Client.PacketsSent - sent} packets in 20 s");
    }
}
