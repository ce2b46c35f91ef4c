using System.Net;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.Quic;

namespace OspBridge.Osp.Tests.Lp2p;

public sealed class LP2PQuicTransportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MakeDiscoverable_and_Connect_give_a_q2q_transport_with_bidirectional_and_unidirectional_streams_and_datagrams()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var server = LP2PDataChannelTests.Agent("Receiver");
        var grants = new List<LP2PGrantRequest>();
        await using var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions
        {
            Agent = server,
            Nickname = "files",
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Grants = new RecordingGrants(grants, allow: true),
        }, cts.Token);
        await listener.Ready;
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Receiver", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var incoming = listener.AcceptTransportAsync(cts.Token).AsTask();
        await using var transport = await LP2P.ConnectAsync(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Requester"), Peer = peer }, null, cts.Token);
        await using var accepted = await incoming.WaitAsync(cts.Token);
        Assert.Equal(server.Identity.Fingerprint, transport.RemoteFingerprint);
        Assert.Contains(grants, g => g.Incoming && g.Nickname == "files" && g.PeerFingerprint == accepted.RemoteFingerprint);

        // Bidirectional: request/response on one stream.
        await using (var bidi = await transport.CreateBidirectionalStreamAsync(cts.Token))
        {
            await bidi.WriteAsync("ping"u8.ToArray(), completeWrites: true, cts.Token);
            await using var other = await accepted.AcceptStreamAsync(cts.Token);
            Assert.Equal(QuicStreamType.Bidirectional, other.Type);
            Assert.Equal("ping", await ReadAllAsync(other, cts.Token));
            await other.WriteAsync("pong"u8.ToArray(), completeWrites: true, cts.Token);
            Assert.Equal("pong", await ReadAllAsync(bidi, cts.Token));
        }

        // Unidirectional, from the receiver's side.
        await using (var uni = await accepted.CreateUnidirectionalStreamAsync(cts.Token))
        {
            await uni.WriteAsync("one way"u8.ToArray(), completeWrites: true, cts.Token);
            await using var other = await transport.AcceptStreamAsync(cts.Token);
            Assert.Equal(QuicStreamType.Unidirectional, other.Type);
            Assert.Equal("one way", await ReadAllAsync(other, cts.Token));
        }

        // Datagrams (RFC 9221), unreliable: resend until one arrives (loopback rarely loses any).
        Assert.True(transport.MaxDatagramSize > 0);
        var datagram = accepted.ReceiveDatagramAsync(cts.Token).AsTask();
        for (int i = 0; i < 50 && !datagram.IsCompleted; i++)
        {
            Assert.True(transport.SendDatagram("dgram"u8));
            await Task.WhenAny(datagram, Task.Delay(100, cts.Token));
        }

        Assert.Equal("dgram", System.Text.Encoding.UTF8.GetString(await datagram));
        Assert.False(transport.SendDatagram(new byte[transport.MaxDatagramSize + 1]));
    }

    [Fact]
    public async Task A_refused_grant_closes_the_connection_and_a_q2q_connection_without_an_LP2P_connection_is_refused()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var server = LP2PDataChannelTests.Agent("Receiver");
        await using var receiver = new LP2PReceiver(new LP2PReceiverOptions
        {
            Agent = server,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Grants = LP2PGrantPolicies.DenyAll,
        });
        await receiver.StartAsync(cts.Token);
        var at = receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Receiver", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var request = new LP2PRequest(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Requester"), Peer = peer });
        // The requester's own side allows, so it gets a connection; the receiver refuses and closes it.
        await using var connection = await request.StartAsync(cts.Token);
        Assert.Equal(OspBridge.Osp.Agent.OspConnection.NotAuthenticatedErrorCode, await connection.Closed.WaitAsync(cts.Token));

        var denied = new LP2PRequest(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Other"), Peer = peer, Grants = LP2PGrantPolicies.DenyAll });
        var ex = await Assert.ThrowsAsync<OspException>(() => denied.StartAsync(cts.Token));
        Assert.Equal(OspError.Refused, ex.Error);
    }

    private static async Task<string> ReadAllAsync(QuicStream stream, CancellationToken cancellationToken)
    {
        using var ms = new MemoryStream();
        byte[] buffer = new byte[1024];
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0) ms.Write(buffer, 0, n);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private sealed class RecordingGrants(List<LP2PGrantRequest> requests, bool allow) : ILP2PGrantPolicy
    {
        public ValueTask<bool> RequestGrantAsync(LP2PGrantRequest request, CancellationToken cancellationToken)
        {
            lock (requests) requests.Add(request);
            return ValueTask.FromResult(allow);
        }
    }
}
