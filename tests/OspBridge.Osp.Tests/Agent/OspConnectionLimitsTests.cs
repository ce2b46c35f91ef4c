using System.Net;
using System.Net.Security;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Quic;
using Xunit.Abstractions;

namespace OspBridge.Osp.Tests.Agent;

/// <summary>Issue 9 item 3 (pre-authentication OSP floods) and the connection's other limits.</summary>
public sealed class OspConnectionLimitsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static OspAgentOptions Agent(string name, bool requireAuthentication = false, TimeSpan? stall = null) => new()
    {
        Identity = AgentIdentity.CreateEphemeral(name),
        DisplayName = name + " display",
        RequireAuthentication = requireAuthentication,
        StallTimeout = stall ?? TimeSpan.FromSeconds(10),
    };

    /// <summary>A raw QUIC client that advertises initial_max_streams_uni = 0: it never lets the server answer.</summary>
    private static ValueTask<QuicConnection> NoCreditClientAsync(OspAgentOptions server, IPEndPoint at) =>
        QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = at,
            ConnectionIdLength = 0,
            MaxInboundUnidirectionalStreams = 0,
            MaxInboundBidirectionalStreams = 0,
            DefaultCloseErrorCode = 0,
            DefaultStreamErrorCode = 0,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol("osp")],
                TargetHost = server.Identity.Hostname,
                ClientCertificates = [AgentIdentity.CreateEphemeral("Flooder").Certificate],
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null,
            },
        });

    /// <summary>agent-info-request {0: id} framed: 0a a1 00 + CBOR uint (1..6 bytes in all).</summary>
    private static byte[] AgentInfoRequests(int count)
    {
        var bytes = new List<byte>(count * 6);
        for (int i = 1; i <= count; i++)
        {
            bytes.AddRange([0x0a, 0xa1, 0x00]);
            if (i < 24) bytes.Add((byte)i);
            else if (i < 256) bytes.AddRange([0x18, (byte)i]);
            else bytes.AddRange([0x19, (byte)(i >> 8), (byte)i]);
        }

        return [.. bytes];
    }

    private static async Task FloodAsync(QuicConnection quic, byte[] requests)
    {
        try
        {
            await using var stream = await quic.OpenOutboundStreamAsync(QuicStreamType.Unidirectional);
            await stream.WriteAsync(requests, completeWrites: true);
        }
        catch (QuicException)
        {
            // the server closed the connection mid-flood: what the test wants
        }
    }

    [Fact]
    public async Task Pre_authentication_OSP_flood_of_agent_info_requests_without_stream_credit_closes_the_connection_and_holds_no_memory()
    {
        // Issue 9 item 3: an unpaired client with initial_max_streams_uni = 0 sent 60 000 agent-info requests; each
        // spawned a task waiting forever for stream credit (+58 MB after a full GC) and the connection stayed open.
        var server = Agent("Target", requireAuthentication: true);
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        await using var quic = await NoCreditClientAsync(server, listener.LocalEndPoint);
        await using var accepted = await acceptTask.WaitAsync(Timeout);
        Assert.False(accepted.IsAuthenticated);

        long before = GC.GetTotalMemory(forceFullCollection: true);
        await FloodAsync(quic, AgentInfoRequests(60_000));
        long code = await accepted.Closed.WaitAsync(Timeout);
        Assert.Equal(OspConnection.TooManyRequestsErrorCode, code);

        long after = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"managed heap: before {before / 1024} KiB, after close {after / 1024} KiB, delta {(after - before) / 1024} KiB");
        Assert.True(after - before < 8 << 20, $"the flood left {(after - before) >> 20} MB behind");
    }

    [Fact]
    public async Task An_authenticated_peer_that_never_grants_stream_credit_is_closed_after_MaxPendingReplies_outstanding_requests()
    {
        var server = Agent("Target");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        await using var quic = await NoCreditClientAsync(server, listener.LocalEndPoint);
        await using var accepted = await acceptTask.WaitAsync(Timeout);
        Assert.True(accepted.IsAuthenticated);

        await FloodAsync(quic, AgentInfoRequests(server.MaxPendingReplies + 2));
        Assert.Equal(OspConnection.TooManyRequestsErrorCode, await accepted.Closed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_peer_that_stalls_one_reply_is_closed_after_the_stall_timeout()
    {
        var server = Agent("Target", stall: TimeSpan.FromMilliseconds(500));
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        await using var quic = await NoCreditClientAsync(server, listener.LocalEndPoint);
        await using var accepted = await acceptTask.WaitAsync(Timeout);

        await FloodAsync(quic, AgentInfoRequests(1));
        Assert.Equal(OspConnection.StalledErrorCode, await accepted.Closed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_message_left_incomplete_is_closed_after_the_stall_timeout()
    {
        var server = Agent("Target", stall: TimeSpan.FromMilliseconds(500));
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        await using var quic = await NoCreditClientAsync(server, listener.LocalEndPoint);
        await using var accepted = await acceptTask.WaitAsync(Timeout);

        var stream = await quic.OpenOutboundStreamAsync(QuicStreamType.Unidirectional);
        await stream.WriteAsync(new byte[] { 0x0a, 0xa1 }); // agent-info-request, body cut after the map header; no FIN
        Assert.Equal(OspConnection.StalledErrorCode, await accepted.Closed.WaitAsync(Timeout));
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task Before_authentication_a_chatty_peer_is_closed_after_MaxMessagesBeforeAuthentication_even_with_credit()
    {
        var server = Agent("Target", requireAuthentication: true);
        var strict = new OspAgentOptions
        {
            Identity = server.Identity,
            DisplayName = server.DisplayName,
            RequireAuthentication = true,
            MaxMessagesBeforeAuthentication = 20,
        };
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), strict);
        var acceptTask = listener.AcceptAsync();
        await using var client = await OspConnection.ConnectAsync(listener.LocalEndPoint, strict.Identity.Hostname, strict.Identity.Fingerprint, Agent("Chatty"));
        await using var accepted = await acceptTask.WaitAsync(Timeout);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal("Target display", (await client.RequestAgentInfoAsync(Timeout)).DisplayName);
        }

        Assert.False(accepted.Closed.IsCompleted);
        for (ulong i = 0; i < 30 && !accepted.Closed.IsCompleted; i++)
        {
            try
            {
                await client.SendAsync(new OspBridge.Osp.Messages.AgentInfoRequest { RequestId = 100 + i });
            }
            catch (OspException)
            {
                break;
            }
        }

        Assert.Equal(OspConnection.TooManyRequestsErrorCode, await accepted.Closed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task The_OSP_listener_validates_client_addresses_with_Retry_and_connections_still_work()
    {
        var server = Agent("Retrying");
        Assert.True(server.UseRetry);
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server);
        var acceptTask = listener.AcceptAsync();
        await using var client = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, Agent("Client"));
        await using var accepted = await acceptTask.WaitAsync(Timeout);
        Assert.Equal("Retrying display", (await client.RequestAgentInfoAsync(Timeout)).DisplayName);
        const System.Reflection.BindingFlags Private = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance;
        var quicListener = (QuicListener)typeof(OspAgentListener).GetField("_listener", Private)!.GetValue(listener)!;
        Assert.Equal(1L, (long)typeof(QuicListener).GetProperty("RetriesSent", Private)!.GetValue(quicListener)!);
    }
}
