using System.Net;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Tests.Agent;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>Two real agents on loopback (QUIC + TLS with agent certificates) pair with OspAuthentication.</summary>
public sealed class OspAuthenticationLoopbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static OspAgentOptions Agent(string name, bool requireAuthentication = true) =>
        new() { Identity = AgentIdentity.CreateEphemeral(name), DisplayName = name, RequireAuthentication = requireAuthentication };

    /// <summary>A loopback link; by default a "Screenless Speaker" listens and a "Laptop" connects (both requiring authentication).</summary>
    private static Task<OspLoopbackLink> OpenAsync(CancellationToken ct, OspAgentOptions? server = null, OspAgentOptions? client = null) =>
        OspLoopbackLink.OpenAsync(server ?? Agent("Screenless Speaker"), client ?? Agent("Laptop"), ct);

    private static OspAuthenticationOptions ServerOptions(OspLoopbackLink link, AuthAttemptLimiter? limiter = null) => new()
    {
        Identity = link.ServerAgent.Identity,
        IsAdvertiser = true,
        Capabilities = new AuthCapabilities { PskEaseOfInput = 0, PskInputMethods = [PskInputMethod.Numeric], PskMinBitsOfEntropy = 20 },
        Limiter = limiter,
    };

    private static OspAuthenticationOptions ClientOptions(OspLoopbackLink link, string? token = null) =>
        OspAuthenticationOptions.ForListener(link.ClientAgent.Identity, token ?? link.ServerAgent.Identity.AuthToken);

    [Fact]
    public async Task Two_agents_pair_with_the_right_PIN_and_then_exchange_application_messages()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var link = await OpenAsync(cts.Token);
        Assert.False(link.Server.IsAuthenticated);
        Assert.False(link.Client.IsAuthenticated);
        var presenter = new TestPairingHost();
        var consumer = TestPairingHost.TypingWhatIsShownBy(presenter);

        var serverTask = OspAuthentication.AuthenticateAsync(link.Server, ServerOptions(link), presenter, cts.Token);
        var clientTask = OspAuthentication.AuthenticateAsync(link.Client, ClientOptions(link), consumer, cts.Token);
        var results = await Task.WhenAll(serverTask, clientTask);

        Assert.All(results, r => Assert.True(r.IsAuthenticated, r.Message));
        Assert.Equal(link.ClientAgent.Identity.Fingerprint, results[0].PeerFingerprint);
        Assert.Equal(link.ServerAgent.Identity.Fingerprint, results[1].PeerFingerprint);
        Assert.Equal(OspAuthRole.Presenter, results[0].Role);
        Assert.Equal(OspAuthRole.Consumer, results[1].Role);
        Assert.True(link.Server.IsAuthenticated);
        Assert.True(link.Client.IsAuthenticated);
        Assert.Equal(1, presenter.ShowCount);
        Assert.Equal(1, consumer.Prompts);
        Assert.True((await presenter.Ended.Task).IsAuthenticated);

        // Application messages now flow both ways.
        var got = link.Server.WaitForAsync<LanSignalingClose>(m => m.SessionId == 5, Timeout, cts.Token);
        await link.Client.SendAsync(new LanSignalingClose { SessionId = 5, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        Assert.Equal(5UL, (await got).SessionId);
        Assert.False(link.Server.Closed.IsCompleted);
    }

    [Fact]
    public async Task Wrong_PIN_fails_closes_the_connection_and_processes_nothing_else()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var link = await OpenAsync(cts.Token);
        var presenter = new TestPairingHost();
        var consumer = TestPairingHost.TypingWhatIsShownBy(presenter, pin => OspPsk.FromValue((pin.Value + 1) % 1_000_000_000, 9).ToDisplayString());

        var results = await Task.WhenAll(
            OspAuthentication.AuthenticateAsync(link.Server, ServerOptions(link), presenter, cts.Token),
            OspAuthentication.AuthenticateAsync(link.Client, ClientOptions(link), consumer, cts.Token));

        Assert.All(results, r => Assert.False(r.IsAuthenticated));
        // Whichever side verifies the other's confirmation first detects the wrong PIN; the other may see its close first.
        Assert.Contains(results, r => r.Failure == OspAuthFailure.ProofInvalid);
        Assert.All(results, r => Assert.Contains(r.Failure, new[] { OspAuthFailure.ProofInvalid, OspAuthFailure.PeerRejected, OspAuthFailure.ConnectionClosed }));
        Assert.False(link.Server.IsAuthenticated);
        Assert.False(link.Client.IsAuthenticated);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await link.Server.Closed.WaitAsync(Timeout, cts.Token));
        await link.Client.Closed.WaitAsync(Timeout, cts.Token);
        Assert.Null(await link.Server.ReceiveAsync(cts.Token)); // nothing reached the application
        await Assert.ThrowsAsync<OspException>(async () => await link.Client.SendAsync(new LanSignalingClose { SessionId = 1, Reason = LanSignalingCloseReason.Normal }, cts.Token));
    }

    [Fact]
    public async Task Wrong_token_is_dropped_without_showing_a_PIN()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var link = await OpenAsync(cts.Token);
        var presenter = new TestPairingHost();
        var consumer = TestPairingHost.TypingWhatIsShownBy(presenter);

        var results = await Task.WhenAll(
            OspAuthentication.AuthenticateAsync(link.Server, ServerOptions(link), presenter, cts.Token),
            OspAuthentication.AuthenticateAsync(link.Client, ClientOptions(link, token: "not+the/token"), consumer, cts.Token));

        Assert.Equal(OspAuthFailure.InvalidAuthToken, results[0].Failure);
        Assert.False(results[1].IsAuthenticated);
        Assert.Equal(0, presenter.ShowCount);
        Assert.Equal(0, consumer.Prompts);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await link.Server.Closed.WaitAsync(Timeout, cts.Token));
    }

    [Fact]
    public async Task After_a_failure_the_limiter_refuses_an_immediate_retry()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var limiter = new AuthAttemptLimiter();
        var server = Agent("Speaker");
        var client = Agent("Guesser");
        await using (var first = await OpenAsync(cts.Token, server, client))
        {
            var presenter = new TestPairingHost();
            var consumer = TestPairingHost.TypingWhatIsShownBy(presenter, _ => "000-000-000");
            var r = await Task.WhenAll(
                OspAuthentication.AuthenticateAsync(first.Server, ServerOptions(first, limiter), presenter, cts.Token),
                OspAuthentication.AuthenticateAsync(first.Client, ClientOptions(first), consumer, cts.Token));
            Assert.False(r[0].IsAuthenticated); // a wrong PIN: ProofInvalid, or the close if the client detected it first
            Assert.Equal(TimeSpan.FromSeconds(1), r[0].RetryAfter);
        }

        await using var second = await OpenAsync(cts.Token, server, client);
        var presenter2 = new TestPairingHost();
        var refused = await OspAuthentication.AuthenticateAsync(second.Server, ServerOptions(second, limiter), presenter2, cts.Token);
        Assert.Equal(OspAuthFailure.RateLimited, refused.Failure);
        Assert.InRange(refused.RetryAfter, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(1));
        Assert.Equal(0, presenter2.ShowCount);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await second.Server.Closed.WaitAsync(Timeout, cts.Token));
        Assert.Equal(1, limiter.FailuresOf(client.Identity.Fingerprint));
    }

    [Fact]
    public async Task Unauthenticated_peer_sending_an_application_message_is_disconnected()
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var link = await OpenAsync(cts.Token);
        var presenter = new TestPairingHost();
        var serverTask = OspAuthentication.AuthenticateAsync(link.Server, ServerOptions(link), presenter, cts.Token);

        // The client skips pairing and goes straight to an application message (e.g. a data channel open).
        await link.Client.SendAsync(new DataChannelOpenRequest { RequestId = 1, ChannelId = 0, Label = "chat", Protocol = "" }, cts.Token);
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await link.Server.Closed.WaitAsync(Timeout, cts.Token));
        var result = await serverTask.WaitAsync(Timeout, cts.Token);
        Assert.False(result.IsAuthenticated);
        Assert.Equal(OspAuthFailure.ConnectionClosed, result.Failure);
        Assert.False(link.Server.IsAuthenticated);
        Assert.Null(await link.Server.ReceiveAsync(cts.Token));
    }
}
