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
        // The requester's own side allows; the receiver refuses and closes with 401. That close races the requester's
        // own set-up (agent-info request): either the set-up fails with Refused, or the connection is returned and then
        // closes with 401. Both are the refusal; nothing else is accepted.
        LP2PConnection? connection = null;
        try
        {
            connection = await request.StartAsync(cts.Token);
        }
        catch (OspException refused)
        {
            Assert.Equal(OspError.Refused, refused.Error);
            Assert.Equal(OspBridge.Osp.Agent.OspConnection.NotAuthenticatedErrorCode, refused.ApplicationErrorCode);
        }
        if (connection is not null)
        {
            await using (connection)
            {
                Assert.Equal(OspBridge.Osp.Agent.OspConnection.NotAuthenticatedErrorCode, await connection.Closed.WaitAsync(cts.Token));
            }
        }

        var denied = new LP2PRequest(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Other"), Peer = peer, Grants = LP2PGrantPolicies.DenyAll });
        var ex = await Assert.ThrowsAsync<OspException>(() => denied.StartAsync(cts.Token));
        Assert.Equal(OspError.Refused, ex.Error);
    }

    [Fact]
    public async Task LP2P_ConnectAsync_fails_fast_with_Refused_when_the_receiver_denies_the_grant()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var server = LP2PDataChannelTests.Agent("Receiver");
        await using var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions
        {
            Agent = server,
            Nickname = "files",
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Grants = LP2PGrantPolicies.DenyAll,
        }, cts.Token);
        await listener.Ready;
        // Nobody on the receiver accepts transports (the case that hung: the q2q connection itself stayed up).
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Receiver", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var started = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<OspException>(async () =>
        {
            await using var transport = await LP2P.ConnectAsync(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Requester"), Peer = peer, Nickname = "files" }, null, cts.Token);
            // The denial may land just after the connect returned: the transport then ends at once with the same error.
            await transport.AcceptStreamAsync(cts.Token);
        });
        Assert.Equal(OspError.Refused, ex.Error);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task A_silent_transport_outlives_the_idle_timeout_thanks_to_keep_alive()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var idle = TimeSpan.FromSeconds(1.5);
        var server = IdleAgent("Receiver", idle);
        await using var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions
        {
            Agent = server,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        }, cts.Token);
        await listener.Ready;
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Receiver", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var incoming = listener.AcceptTransportAsync(cts.Token).AsTask();
        var client = IdleAgent("Requester", idle);
        await using var transport = await LP2P.ConnectAsync(new LP2PRequestOptions { Agent = client, Peer = peer }, null, cts.Token);
        await using var accepted = await incoming.WaitAsync(cts.Token);

        // Nothing from the application for three idle timeouts (a slow origin): the default keep-alive holds it open.
        await Task.Delay(idle * 3, cts.Token);
        await using var bidi = await transport.CreateBidirectionalStreamAsync(cts.Token);
        await bidi.WriteAsync("still here"u8.ToArray(), completeWrites: true, cts.Token);
        await using var other = await accepted.AcceptStreamAsync(cts.Token);
        Assert.Equal("still here", await ReadAllAsync(other, cts.Token));

        // With keep-alive off the same silence ends the transport (the test above is not vacuous).
        var incoming2 = listener.AcceptTransportAsync(cts.Token).AsTask();
        await using var quiet = await LP2P.ConnectAsync(new LP2PRequestOptions { Agent = client, Peer = peer }, new LP2PQuicTransportInit { KeepAliveInterval = TimeSpan.Zero }, cts.Token);
        await using var accepted2 = await incoming2.WaitAsync(cts.Token);
        await Task.Delay(idle * 3, cts.Token);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var s = await quiet.CreateBidirectionalStreamAsync(cts.Token);
            await s.WriteAsync("x"u8.ToArray(), completeWrites: true, cts.Token);
            _ = await ReadAllAsync(s, cts.Token);
        });
    }

    [Fact]
    public async Task Closing_a_q2q_transport_leaves_the_LP2P_connection_it_was_made_for_open()
    {
        // Session 17: the bench found the LP2P connection gone after a q2q transport on it was closed (a PeerFetch
        // handler disposes its transport). Both ends close and dispose their transport; the LP2P connection still
        // carries a data channel afterwards, both ways.
        using var cts = new CancellationTokenSource(Timeout);
        var server = LP2PDataChannelTests.Agent("Receiver");
        await using var listener = await LP2P.MakeDiscoverableAsync(new LP2PReceiverOptions
        {
            Agent = server,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        }, cts.Token);
        await listener.Ready;
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspAgentInfo("Receiver", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var incomingConnection = listener.Receiver.AcceptConnectionAsync(cts.Token).AsTask();
        await using var lp2p = await new LP2PRequest(new LP2PRequestOptions { Agent = LP2PDataChannelTests.Agent("Requester"), Peer = peer }).StartAsync(cts.Token);
        await using var receiverSide = (await incomingConnection.WaitAsync(cts.Token))!;

        for (int round = 0; round < 2; round++)
        {
            var incoming = listener.AcceptTransportAsync(cts.Token).AsTask();
            var transport = await LP2PQuicTransport.ConnectAsync(lp2p, null, cts.Token);
            var accepted = await incoming.WaitAsync(cts.Token);
            await using (var bidi = await transport.CreateBidirectionalStreamAsync(cts.Token))
            {
                await bidi.WriteAsync("ping"u8.ToArray(), completeWrites: true, cts.Token);
                await using var other = await accepted.AcceptStreamAsync(cts.Token);
                Assert.Equal("ping", await ReadAllAsync(other, cts.Token));
            }

            // Round 0: the requester closes first (as a disposed PeerFetch handler does); round 1: the receiver.
            if (round == 0) { await transport.CloseAsync(0, cts.Token); await transport.DisposeAsync(); await accepted.DisposeAsync(); }
            else { await accepted.CloseAsync(0, cts.Token); await accepted.DisposeAsync(); await transport.DisposeAsync(); }
            await Task.Delay(200, cts.Token); // let any close the transports caused reach the LP2P connection

            Assert.False(lp2p.Connection.Closed.IsCompleted, "the requester's LP2P connection closed with its q2q transport");
            Assert.False(receiverSide.Connection.Closed.IsCompleted, "the receiver's LP2P connection closed with its q2q transport");
            var accept = receiverSide.AcceptDataChannelAsync(cts.Token);
            await using var channel = await lp2p.CreateDataChannelAsync("after" + round, null, cts.Token);
            await using var peerChannel = (await accept.AsTask().WaitAsync(cts.Token))!;
            Assert.Equal("after" + round, peerChannel.Label);
        }
    }

    private static OspBridge.Osp.Agent.OspAgentOptions IdleAgent(string name, TimeSpan idle) => new()
    {
        Identity = OspBridge.Crypto.Identity.AgentIdentity.CreateEphemeral(name),
        DisplayName = name + " display",
        RequireAuthentication = false,
        AuthenticationGracePeriod = TimeSpan.FromSeconds(5),
        IdleTimeout = idle,
    };

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
