using System.Net;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Auth;

public sealed class OspPairingSessionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private sealed class MemoryTrust : IOspTrustStore
    {
        public HashSet<string> Trusted { get; } = [];

        public List<string> Failures { get; } = [];

        public bool IsTrusted(string fingerprint) => Trusted.Contains(fingerprint);

        public void RecordAuthenticated(string fingerprint, string? displayName, string? endpoint) => Trusted.Add(fingerprint);

        public void RecordAuthFailure(string fingerprint, string? displayName, string? endpoint) => Failures.Add(fingerprint);
    }

    private static async Task<(OspPairingOutcome Server, OspPairingOutcome Client, OspConnection S, OspConnection C, OspAgentListener L, TestPairingHost Presenter)> ConnectAsync(
        OspAgentOptions server, OspAgentOptions client, MemoryTrust serverTrust, MemoryTrust clientTrust, Func<OspPsk, string>? typo, CancellationToken ct,
        OspPairingPolicy? serverPolicy = null, OspPairingPolicy? clientPolicy = null)
    {
        var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, ct);
        var accept = listener.AcceptAsync(ct);
        var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, ct);
        var s = await accept.WaitAsync(Timeout, ct);
        var presenter = new TestPairingHost();
        var consumer = TestPairingHost.TypingWhatIsShownBy(presenter, typo);
        var serverOptions = new OspAuthenticationOptions
        {
            Identity = server.Identity, IsAdvertiser = true,
            Capabilities = new AuthCapabilities { PskEaseOfInput = 0, PskInputMethods = [PskInputMethod.Numeric], PskMinBitsOfEntropy = 20 },
        };
        var outcomes = await Task.WhenAll(
            OspPairingSession.EstablishAsync(s, serverOptions, presenter, serverTrust, serverPolicy, ct),
            OspPairingSession.EstablishAsync(c, OspAuthenticationOptions.ForListener(client.Identity, server.Identity.AuthToken), consumer, clientTrust, clientPolicy, ct));
        return (outcomes[0], outcomes[1], s, c, listener, presenter);
    }

    [Fact]
    public async Task First_connection_pairs_with_a_PIN_the_next_needs_none()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var server = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Speaker"), DisplayName = "Speaker", RequireAuthentication = true };
        var client = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Laptop"), DisplayName = "Laptop", RequireAuthentication = true };
        var serverTrust = new MemoryTrust();
        var clientTrust = new MemoryTrust();

        var first = await ConnectAsync(server, client, serverTrust, clientTrust, null, cts.Token);
        Assert.True(first.Server.IsAuthenticated && first.Client.IsAuthenticated);
        Assert.False(first.Server.WasTrusted);
        Assert.Equal(1, first.Presenter.ShowCount);
        Assert.Contains(client.Identity.Fingerprint, serverTrust.Trusted);
        Assert.Contains(server.Identity.Fingerprint, clientTrust.Trusted);
        await first.C.DisposeAsync();
        await first.S.DisposeAsync();
        await first.L.DisposeAsync();

        var second = await ConnectAsync(server, client, serverTrust, clientTrust, null, cts.Token);
        Assert.True(second.Server.WasTrusted && second.Client.WasTrusted);
        Assert.Equal(0, second.Presenter.ShowCount); // no PIN
        Assert.True(second.S.IsAuthenticated && second.C.IsAuthenticated);
        var got = second.S.WaitForAsync<LanSignalingClose>(m => m.SessionId == 9, Timeout, cts.Token);
        await second.C.SendAsync(new LanSignalingClose { SessionId = 9, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        Assert.Equal(9UL, (await got).SessionId);
        await second.C.DisposeAsync();
        await second.S.DisposeAsync();
        await second.L.DisposeAsync();
    }

    [Fact]
    public async Task A_failed_pairing_records_a_failure_and_trusts_nobody()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var server = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Speaker"), DisplayName = "Speaker", RequireAuthentication = true };
        var client = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Laptop"), DisplayName = "Laptop", RequireAuthentication = true };
        var serverTrust = new MemoryTrust();
        var clientTrust = new MemoryTrust();
        var run = await ConnectAsync(server, client, serverTrust, clientTrust, _ => "1", cts.Token);
        Assert.False(run.Server.IsAuthenticated);
        Assert.False(run.Client.IsAuthenticated);
        Assert.Empty(serverTrust.Trusted);
        Assert.Empty(clientTrust.Trusted);
        Assert.Equal([client.Identity.Fingerprint], serverTrust.Failures);
        await run.C.DisposeAsync();
        await run.S.DisposeAsync();
        await run.L.DisposeAsync();
    }

    private static (OspAgentOptions Server, OspAgentOptions Client) Agents() => (
        new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Speaker"), DisplayName = "Speaker" },
        new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Laptop"), DisplayName = "Laptop" });

    [Fact]
    public async Task A_listener_the_advertiser_revoked_fails_fast_with_NotTrustedByPeer_instead_of_a_timeout()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var (server, client) = Agents();
        var serverTrust = new MemoryTrust(); // the advertiser revoked the laptop
        var clientTrust = new MemoryTrust();
        clientTrust.Trusted.Add(server.Identity.Fingerprint); // the laptop still trusts the speaker

        var started = TimeProvider.System.GetTimestamp();
        var run = await ConnectAsync(server, client, serverTrust, clientTrust, null, cts.Token,
            clientPolicy: new OspPairingPolicy { AllowPairing = false });
        Assert.True(run.Client.WasTrusted); // our side admitted it from the store at once ...
        // ... and closes as soon as the advertiser starts PIN pairing: it no longer trusts us.
        Assert.Equal(OspConnection.NotAuthenticatedErrorCode, await run.C.Closed.WaitAsync(Timeout));
        Assert.True(run.C.IsNotTrustedByPeer);
        var ex = await Assert.ThrowsAsync<OspException>(async () => await run.C.SendAsync(new LanSignalingClose { SessionId = 1, Reason = LanSignalingCloseReason.Normal }, cts.Token));
        Assert.Equal(OspError.NotTrustedByPeer, ex.Error);
        Assert.Contains("no longer trusts us", ex.Message, StringComparison.Ordinal);
        Assert.False(run.Server.IsAuthenticated); // the advertiser's pairing ended because we closed, not on its step timeout
        Assert.True(TimeProvider.System.GetElapsedTime(started) < OspAuthenticatorOptions.DefaultStepTimeout / 2,
            $"took {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.0} s");
        Assert.Equal(0, run.Presenter.ShowCount);
        await run.C.DisposeAsync();
        await run.S.DisposeAsync();
        await run.L.DisposeAsync();
    }

    [Fact]
    public async Task Pairing_again_after_a_one_sided_revoke_works_from_either_side()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var (server, client) = Agents();

        // 1. The advertiser revoked the laptop; the laptop pairs again (AlwaysPair: `ospbridge pair`).
        var serverTrust = new MemoryTrust();
        var clientTrust = new MemoryTrust();
        clientTrust.Trusted.Add(server.Identity.Fingerprint);
        var run = await ConnectAsync(server, client, serverTrust, clientTrust, null, cts.Token, clientPolicy: new OspPairingPolicy { AlwaysPair = true });
        Assert.Equal(OspPairingStatus.Paired, run.Client.Status);
        Assert.Equal(OspPairingStatus.Paired, run.Server.Status);
        Assert.Contains(client.Identity.Fingerprint, serverTrust.Trusted);
        await run.C.DisposeAsync();
        await run.S.DisposeAsync();
        await run.L.DisposeAsync();

        // 2. The laptop revoked the speaker, which still trusts the laptop: the speaker joins the laptop's PIN pairing
        //    on the connection it admitted from its store (no timeout, no "revoke on both sides").
        clientTrust.Trusted.Clear();
        var repaired = new TaskCompletionSource<OspAuthenticationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        run = await ConnectAsync(server, client, serverTrust, clientTrust, null, cts.Token,
            serverPolicy: new OspPairingPolicy { RepairEnded = (_, r) => repaired.TrySetResult(r) });
        Assert.Equal(OspPairingStatus.Trusted, run.Server.Status);
        Assert.Equal(OspPairingStatus.Paired, run.Client.Status);
        Assert.True((await repaired.Task.WaitAsync(Timeout)).IsAuthenticated);
        Assert.Equal(1, run.Presenter.ShowCount);
        Assert.Contains(server.Identity.Fingerprint, clientTrust.Trusted);
        var got = run.S.WaitForAsync<LanSignalingClose>(m => m.SessionId == 3, Timeout, cts.Token);
        await run.C.SendAsync(new LanSignalingClose { SessionId = 3, Reason = LanSignalingCloseReason.Normal }, cts.Token);
        Assert.Equal(3UL, (await got).SessionId);
        await run.C.DisposeAsync();
        await run.S.DisposeAsync();
        await run.L.DisposeAsync();
    }

    [Fact]
    public async Task The_trust_store_on_disk_is_the_pairing_sessions_store()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ospbridge-session-store-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            var (server, client) = Agents();
            IOspTrustStore store = Osp.Trust.OspTrustStore.Open(dir); // no adapter: the store is the session's trust abstraction
            var clientTrust = new MemoryTrust();
            var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, cts.Token);
            await using var _ = listener;
            var accept = listener.AcceptAsync(cts.Token);
            await using var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, cts.Token);
            await using var s = await accept.WaitAsync(Timeout, cts.Token);
            var presenter = new TestPairingHost();
            var outcomes = await Task.WhenAll(
                OspPairingSession.EstablishAsync(s, new OspAuthenticationOptions { Identity = server.Identity, IsAdvertiser = true, PeerDisplayName = "Laptop" }, presenter, store, cts.Token),
                OspPairingSession.EstablishAsync(c, OspAuthenticationOptions.ForListener(client.Identity, server.Identity.AuthToken), TestPairingHost.TypingWhatIsShownBy(presenter), clientTrust, cts.Token));
            Assert.All(outcomes, o => Assert.True(o.IsAuthenticated));
            var record = Osp.Trust.OspTrustStore.Open(dir).Find(client.Identity.Fingerprint);
            Assert.NotNull(record);
            Assert.True(record.Trusted);
            Assert.Equal("Laptop", record.Name);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
