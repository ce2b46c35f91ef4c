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
        OspAgentOptions server, OspAgentOptions client, MemoryTrust serverTrust, MemoryTrust clientTrust, Func<OspPsk, string>? typo, CancellationToken ct)
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
            OspPairingSession.EstablishAsync(s, serverOptions, presenter, serverTrust, ct),
            OspPairingSession.EstablishAsync(c, OspAuthenticationOptions.ForListener(client.Identity, server.Identity.AuthToken), consumer, clientTrust, ct));
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
}
