using System.Net;
using System.Net.Security;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Tests.Agent;

public sealed class OspConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static OspAgentOptions Agent(string name) => new() { Identity = AgentIdentity.CreateEphemeral(name), DisplayName = name + " display", RequireAuthentication = false };

    [Fact]
    public async Task ConnectPinsFingerprintAndExchangesAgentInfoBothWays()
    {
        var server = Agent("Front Door");
        var client = Agent("Living Room");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await using var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, cts.Token);
        await using var s = await acceptTask.WaitAsync(Timeout);

        Assert.Equal(server.Identity.Fingerprint, c.RemoteFingerprint);
        Assert.Equal(client.Identity.Fingerprint, s.RemoteFingerprint);

        var info = await c.RequestAgentInfoAsync(Timeout);
        Assert.Equal("Front Door display", info.DisplayName);
        Assert.Equal("OspBridge", info.ModelName);
        Assert.Contains(AgentCapability.LanSignaling, info.Capabilities);

        var back = await s.RequestAgentInfoAsync(Timeout);
        Assert.Equal("Living Room display", back.DisplayName);
    }

    [Fact]
    public async Task ApplicationMessagesArriveInOrderOfSendingWhenAwaited()
    {
        await using var link = await OspLoopbackLink.OpenAsync(Agent("A"), Agent("B"));
        var (c, s) = (link.Client, link.Server);
        for (ulong i = 1; i <= 20; i++)
        {
            var wait = s.WaitForAsync<LanSignalingClose>(m => m.SessionId == i, Timeout);
            await c.SendAsync(new LanSignalingClose { SessionId = i, Reason = LanSignalingCloseReason.Normal, Message = "bye " + i });
            var got = await wait;
            Assert.Equal("bye " + i, got.Message);
        }
    }

    [Fact]
    public async Task WrongFingerprintFailsTheHandshake()
    {
        var server = Agent("Real");
        var impostorFp = AgentIdentity.CreateEphemeral("Other").Fingerprint;
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        using var cts = new CancellationTokenSource(Timeout);
        var ex = await Assert.ThrowsAsync<OspException>(() =>
            OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, impostorFp, Agent("Client"), cts.Token));
        Assert.Equal(OspError.FingerprintMismatch, ex.Error);
        Assert.Contains(server.Identity.Fingerprint, ex.Message, StringComparison.Ordinal);
        Assert.IsType<QuicException>(ex.InnerException); // the transport's view stays available
    }

    private static OspAgentInfo Discovered(OspAgentOptions server, IPEndPoint at, string? fingerprint = null, params IPAddress[] addresses) =>
        new("Front Door", server.Identity.Hostname + ".", (ushort)at.Port, addresses.Length > 0 ? addresses : [at.Address],
            new OspTxt(fingerprint ?? server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));

    [Fact]
    public async Task ConnectAsync_from_a_discovered_agent_pins_its_TXT_fingerprint_and_uses_its_SRV_target()
    {
        var server = Agent("Front Door");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await using var c = await OspConnection.ConnectAsync(Discovered(server, listener.LocalEndPoint), Agent("Controller"), cts.Token);
        await using var s = await acceptTask.WaitAsync(Timeout);
        Assert.Equal(server.Identity.Fingerprint, c.RemoteFingerprint);
        Assert.Equal(listener.LocalEndPoint, c.RemoteEndPoint);
        Assert.Equal("Front Door display", (await c.RequestAgentInfoAsync(Timeout, cts.Token)).DisplayName);
    }

    [Fact]
    public async Task ConnectAsync_from_a_discovered_agent_refuses_another_key_and_reports_missing_addresses()
    {
        var server = Agent("Real");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        using var cts = new CancellationTokenSource(Timeout);
        var impostor = Discovered(server, listener.LocalEndPoint, AgentIdentity.CreateEphemeral("Other").Fingerprint);
        var ex = await Assert.ThrowsAsync<OspException>(() => OspConnection.ConnectAsync(impostor, Agent("Client"), cts.Token));
        Assert.Equal(OspError.FingerprintMismatch, ex.Error);

        var nowhere = Discovered(server, listener.LocalEndPoint) with { Addresses = [] };
        ex = await Assert.ThrowsAsync<OspException>(() => OspConnection.ConnectAsync(nowhere, Agent("Client"), cts.Token));
        Assert.Equal(OspError.ConnectionFailed, ex.Error);

        // A cancelled token cancels (OperationCanceledException), it is not an OSP failure.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OspConnection.ConnectAsync(Discovered(server, listener.LocalEndPoint), Agent("Client"), cancelled.Token));
    }

    [Fact]
    public async Task Waiting_times_out_or_fails_when_the_peer_closes_and_sending_after_close_is_an_OspException()
    {
        await using var link = await OspLoopbackLink.OpenAsync(Agent("A"), Agent("B"));
        var (c, s) = (link.Client, link.Server);

        var timeout = await Assert.ThrowsAsync<OspException>(() => s.WaitForAsync<LanSignalingClose>(_ => true, TimeSpan.FromMilliseconds(50)));
        Assert.Equal(OspError.Timeout, timeout.Error);

        var pending = s.WaitForAsync<LanSignalingClose>(_ => true, Timeout);
        await c.CloseAsync(OspConnection.ProtocolErrorCode);
        var closed = await Assert.ThrowsAsync<OspException>(() => pending.WaitAsync(Timeout));
        Assert.Equal(OspError.ProtocolError, closed.Error);
        Assert.Equal(OspConnection.ProtocolErrorCode, closed.ApplicationErrorCode);
        Assert.Equal(OspConnection.ProtocolErrorCode, await s.Closed.WaitAsync(Timeout));

        // After the close: waiting fails at once, sending fails as an OspException, receiving ends.
        Assert.Equal(OspError.ProtocolError, (await Assert.ThrowsAsync<OspException>(() => s.WaitForAsync<LanSignalingClose>(_ => true, Timeout))).Error);
        var send = await Assert.ThrowsAsync<OspException>(async () => await c.SendAsync(new AgentInfoRequest { RequestId = 1 }));
        Assert.Contains(send.Error, new[] { OspError.Closed, OspError.ProtocolError, OspError.ConnectionFailed });
        Assert.Null(await s.ReceiveAsync().AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task UnknownTypeKeyClosesWith404()
    {
        var server = Agent("Strict");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        var client = Agent("Raw");
        await using var quic = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = listener.LocalEndPoint,
            ConnectionIdLength = 0,
            DefaultCloseErrorCode = 0,
            DefaultStreamErrorCode = 0,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol("osp")],
                TargetHost = server.Identity.Hostname,
                ClientCertificates = [client.Identity.Certificate],
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null, // raw test client: pinning is not what is tested here
            },
        });
        await using var s = await acceptTask.WaitAsync(Timeout);
        await using (var stream = await quic.OpenOutboundStreamAsync(QuicStreamType.Unidirectional))
        {
            // type key 9999 (varint 0x670f) + CBOR {} : nobody registered it.
            await stream.WriteAsync(new byte[] { 0x67, 0x0f, 0xa0 }, completeWrites: true);
        }
        Assert.Equal(OspFraming.UnknownTypeKeyErrorCode, await s.Closed.WaitAsync(Timeout));
        // The peer sees the connection closed with application error 404.
        using var cts = new CancellationTokenSource(Timeout);
        var ex = await Assert.ThrowsAsync<QuicException>(async () => await quic.AcceptInboundStreamAsync(cts.Token));
        Assert.Equal(QuicError.ConnectionAborted, ex.QuicError);
        Assert.Equal(OspFraming.UnknownTypeKeyErrorCode, ex.ApplicationErrorCode);
    }

    [Fact]
    public async Task With_RequireAuthentication_only_agent_info_and_auth_messages_pass_before_authentication()
    {
        var server = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Gated"), DisplayName = "Gated display", RequireAuthentication = true };
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        using var cts = new CancellationTokenSource(Timeout);

        // 1. Authenticated (by the auth layer, here by hand): application messages are delivered.
        var acceptTask = listener.AcceptAsync(cts.Token);
        await using (var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, Agent("Paired"), cts.Token))
        await using (var s = await acceptTask.WaitAsync(Timeout))
        {
            Assert.False(s.IsAuthenticated);
            Assert.True(c.IsAuthenticated); // the client's own options do not require it
            s.MarkAuthenticated();
            var wait = s.WaitForAsync<LanSignalingClose>(m => m.SessionId == 1, Timeout, cts.Token);
            await c.SendAsync(new LanSignalingClose { SessionId = 1, Reason = LanSignalingCloseReason.Normal }, cts.Token);
            Assert.Equal(1UL, (await wait).SessionId);
        }

        // 2. Not authenticated: agent-info and auth-* are processed, anything else closes with 401.
        acceptTask = listener.AcceptAsync(cts.Token);
        await using var client = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, Agent("Stranger"), cts.Token);
        await using var gated = await acceptTask.WaitAsync(Timeout);
        Assert.Equal("Gated display", (await client.RequestAgentInfoAsync(Timeout, cts.Token)).DisplayName);
        var auth = gated.WaitForAsync<AuthCapabilities>(_ => true, Timeout, cts.Token);
        await client.SendAsync(new AuthCapabilities { PskEaseOfInput = 50, PskInputMethods = [PskInputMethod.Numeric], PskMinBitsOfEntropy = 20 }, cts.Token);
        Assert.Equal(50UL, (await auth).PskEaseOfInput);
        Assert.False(gated.Closed.IsCompleted);

        await client.SendAsync(new LanSignalingClose { SessionId = 2, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await gated.Closed.WaitAsync(Timeout));
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await client.Closed.WaitAsync(Timeout));
        var refused = await Assert.ThrowsAsync<OspException>(() => client.WaitForAsync<AgentInfoResponse>(_ => true, Timeout, cts.Token));
        Assert.Equal(OspError.Refused, refused.Error);
        Assert.Null(await gated.ReceiveAsync(cts.Token)); // the gated message was never delivered

        Assert.All(new ulong[] { 10, 11, 120, 1001, 1003, 1004, 1005 }, key => Assert.True(OspConnection.IsAllowedBeforeAuthentication(key)));
        Assert.All(new ulong[] { 24, 1100, 1101, 8193, 8196 }, key => Assert.False(OspConnection.IsAllowedBeforeAuthentication(key)));
    }
    [Fact]
    public async Task Authentication_is_required_by_default_application_messages_close_an_unauthenticated_connection()
    {
        var server = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Default"), DisplayName = "Default" };
        var client = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Caller"), DisplayName = "Caller" };
        Assert.True(server.RequireAuthentication);
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await using var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, cts.Token);
        await using var s = await acceptTask.WaitAsync(Timeout);
        Assert.False(c.IsAuthenticated);
        Assert.False(s.IsAuthenticated);
        Assert.Equal("Default", (await c.RequestAgentInfoAsync(Timeout, cts.Token)).DisplayName); // agent-info passes the gate
        await c.SendAsync(new LanSignalingClose { SessionId = 1, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await s.Closed.WaitAsync(Timeout));
        Assert.Null(await s.ReceiveAsync(cts.Token));
    }

    [Fact]
    public async Task Subscribing_after_messages_arrived_replays_the_queued_ones_in_order_and_leaves_the_rest_queued()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var link = await OspLoopbackLink.OpenAsync(Agent("A"), Agent("B"), cts.Token);
        var (c, s) = (link.Client, link.Server);

        // Nobody subscribed yet: the messages land in the receive queue (each on its own stream, so wait for each).
        for (ulong i = 1; i <= 3; i++)
        {
            await c.SendAsync(new LanSignalingClose { SessionId = i, Reason = LanSignalingCloseReason.Normal }, cts.Token);
            await WaitForQueueAsync(s, (int)(2 * i - 1), cts.Token);
            await c.SendAsync(new LanSignalingCandidate { SessionId = i }, cts.Token);
            await WaitForQueueAsync(s, (int)(2 * i), cts.Token);
        }

        var got = new List<ulong>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = s.Subscribe<LanSignalingClose>(m =>
        {
            got.Add(m.SessionId);
            if (got.Count == 4) all.TrySetResult();
        });
        await c.SendAsync(new LanSignalingClose { SessionId = 4, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        await all.Task.WaitAsync(Timeout);
        Assert.Equal([1UL, 2UL, 3UL, 4UL], got); // the queued ones first, in arrival order, then the live one

        // The other type stayed queued, in order, for ReceiveAsync.
        for (ulong i = 1; i <= 3; i++)
        {
            var m = Assert.IsType<LanSignalingCandidate>(await s.ReceiveAsync(cts.Token));
            Assert.Equal(i, m.SessionId);
        }
        Assert.Equal(0, s.QueuedMessageCount);
    }

    private static async Task WaitForQueueAsync(OspConnection connection, int count, CancellationToken cancellationToken)
    {
        for (int i = 0; i < 2000 && connection.QueuedMessageCount < count; i++) await Task.Delay(5, cancellationToken);
        Assert.Equal(count, connection.QueuedMessageCount);
    }
}
