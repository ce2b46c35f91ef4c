using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Relay;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Tests.Relay;

/// <summary>The relay's driver (CoreLoop + IDatagramSocket) over real loopback sockets.</summary>
public sealed class TurnRelayServerTests
{
    private const ushort Channel = 0x4001;

    [Fact]
    public async Task Datagrams_are_relayed_both_ways_and_a_zero_refresh_closes_the_relay_socket()
    {
        await using var relay = TurnRelayServer.Start(IPAddress.Loopback, 0, NullLogger.Instance, TimeProvider.System, peerAllowed: _ => true);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        client.Connect(new IPEndPoint(IPAddress.Loopback, relay.Port));
        client.ReceiveTimeout = 10_000;
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        peer.ReceiveTimeout = 10_000;
        var (user, password) = relay.MintIceServer(IPAddress.Loopback);
        var buf = new byte[2048];
        int tx = 0;
        byte[] Tx()
        {
            var t = new byte[12];
            BinaryPrimitives.WriteInt32BigEndian(t.AsSpan(8), ++tx);
            return t;
        }
        StunMessage Call(StunMessageBuilder b)
        {
            client.Send(b.ToArray());
            int n = client.Receive(buf);
            Assert.True(StunMessage.TryParse(buf.AsSpan(0, n), out var m), $"the relay's answer ({n} bytes) is not STUN");
            return m!;
        }
        byte[] transport = [17, 0, 0, 0];
        var challenge = Call(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport));
        Assert.Equal(401, challenge.ErrorCode?.Code);
        Assert.True(challenge.TryGetAttribute(StunAttributeType.Nonce, out var n0), "401 without NONCE");
        var nonce = n0.ToArray();
        var key = TurnCredentials.LongTermKey(user, TurnCredentials.Realm, password);
        StunMessageBuilder Signed(StunMessageBuilder b) => b.AddUsername(user).AddAttribute(StunAttributeType.Realm, Encoding.UTF8.GetBytes(TurnCredentials.Realm))
            .AddAttribute(StunAttributeType.Nonce, nonce).AddMessageIntegrity(key).AddFingerprint();
        var alloc = Call(Signed(new StunMessageBuilder(TurnConstants.Allocate, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrRequestedTransport, transport)));
        Assert.True(alloc.Class == StunClass.SuccessResponse, $"Allocate: {alloc.Class} {alloc.ErrorCode?.Code}");
        IPEndPoint? relayed = null;
        Assert.True(alloc.TryGetAttribute(TurnConstants.AttrXorRelayedAddress, out var ra) && StunXorAddress.TryRead(ra, alloc.TransactionId, true, out relayed), "no XOR-RELAYED-ADDRESS");
        Assert.Equal(IPAddress.Loopback, relayed!.Address);

        var bindTx = Tx();
        var xorPeer = new byte[StunXorAddress.EncodedLength((IPEndPoint)peer.LocalEndPoint!)];
        StunXorAddress.Write(xorPeer, (IPEndPoint)peer.LocalEndPoint!, bindTx, xor: true);
        var bound = Call(Signed(new StunMessageBuilder(TurnConstants.ChannelBind, StunClass.Request, bindTx)
            .AddAttribute(TurnConstants.AttrChannelNumber, [0x40, 0x01, 0, 0]).AddAttribute(TurnConstants.AttrXorPeerAddress, xorPeer)));
        Assert.True(bound.Class == StunClass.SuccessResponse, $"ChannelBind: {bound.Class} {bound.ErrorCode?.Code}");

        // Peer → relayed address → client as ChannelData, and back, 20 times each way.
        for (int i = 0; i < 20; i++)
        {
            byte[] payload = [(byte)i, 1, 2, 3, 4];
            peer.SendTo(payload, relayed);
            int n = client.Receive(buf);
            Assert.Equal(4 + payload.Length, n);
            Assert.Equal(Channel, BinaryPrimitives.ReadUInt16BigEndian(buf));
            Assert.Equal(payload, buf.AsSpan(4, payload.Length).ToArray());
            var frame = new byte[8 + 4];
            BinaryPrimitives.WriteUInt16BigEndian(frame, Channel);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), 5);
            payload.CopyTo(frame, 4);
            client.Send(frame.AsSpan(0, 4 + payload.Length));
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            n = peer.ReceiveFrom(buf, ref from);
            Assert.Equal(payload, buf.AsSpan(0, n).ToArray());
            Assert.Equal(relayed, from);
        }
        var stats = await relay.StatsAsync();
        Assert.Equal(1, stats.Allocations);
        Assert.Equal(100, stats.BytesToPeers);
        Assert.Equal(100, stats.BytesToClients);

        // Refresh with LIFETIME 0 ends the allocation; the relayed port is closed by the time the answer arrives.
        var refresh = Call(Signed(new StunMessageBuilder(TurnConstants.Refresh, StunClass.Request, Tx()).AddAttribute(TurnConstants.AttrLifetime, [0, 0, 0, 0])));
        Assert.True(refresh.Class == StunClass.SuccessResponse, $"Refresh 0: {refresh.Class} {refresh.ErrorCode?.Code}");
        Assert.Equal(0, (await relay.StatsAsync()).Allocations);
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        again.Bind(relayed); // would throw (address in use) if the relay still held the port
    }
}
