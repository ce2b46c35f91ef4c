using System.Net;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Trust;
using OspBridge.Testing.Virtual;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>Private instance names (docs/trust.md): the random name's form, and agent-info's real name only after authentication.</summary>
public sealed class PrivateAgentInfoTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void PrivateNamesAreRandomRecognisableAndSayNothing()
    {
        var names = Enumerable.Range(0, 200).Select(_ => OspInstanceName.CreatePrivate()).ToList();
        Assert.All(names, n => Assert.Matches("^private-[a-z2-7]{10}$", n));
        Assert.All(names, n => Assert.True(OspInstanceName.IsPrivate(n), n));
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(OspInstanceName.CreatePrivate(new SeededRandomNumberGenerator(5)), OspInstanceName.CreatePrivate(new SeededRandomNumberGenerator(5)));
        string renamed = OspInstanceName.Rename(names[0], 2); // after an mDNS conflict
        Assert.True(OspInstanceName.IsPrivate(renamed), renamed);
        foreach (string notPrivate in new[] { "Kitchen", "private-", "private-abc", "Private-abcdefghij", "private-abcdefghi1", "private-abcdefghij (x)", "private-abcdefghijk" })
            Assert.False(OspInstanceName.IsPrivate(notPrivate), notPrivate);
        // A private name is no display name: the suspicion rules and the trust store never see it as one.
        var info = new OspAgentInfo(names[0], "x.local", 1, [IPAddress.Loopback], new OspTxt(Convert.ToBase64String(new byte[32]), 1, "abcdef", null));
        Assert.True(info.IsPrivate);
        Assert.Equal("", OspPeerObservation.FromAgentInfo(info).DisplayName);
    }

    private sealed class TrustsOne(string fingerprint) : IOspTrustStore
    {
        public bool IsTrusted(string fp) => fp == fingerprint;

        public void RecordAuthenticated(string fp, string? displayName, string? endpoint)
        {
        }

        public void RecordAuthFailure(string fp, string? displayName, string? endpoint)
        {
        }
    }

    [Fact]
    public async Task AgentInfoCarriesTheRandomNameBeforeAuthenticationAndTheRealNameAfter()
    {
        using var cts = new CancellationTokenSource(Timeout);
        string random = OspInstanceName.CreatePrivate();
        using var serverId = AgentIdentity.CreateEphemeral(random);
        using var clientId = AgentIdentity.CreateEphemeral("Laptop");
        var server = new OspAgentOptions { Identity = serverId, DisplayName = "Secret Study", DisplayNameBeforeAuthentication = random };
        var client = new OspAgentOptions { Identity = clientId, DisplayName = "Laptop" };
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, cts.Token);
        var accept = listener.AcceptAsync(cts.Token);
        await using var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, serverId.Hostname, serverId.Fingerprint, client, cts.Token);
        await using var s = await accept.WaitAsync(Timeout, cts.Token);
        Assert.DoesNotContain("Secret", serverId.Hostname, StringComparison.OrdinalIgnoreCase); // SNI and certificate name
        Assert.Contains(random, serverId.Hostname, StringComparison.Ordinal);

        // Before authentication (allowed by the spec): the neutral name only.
        var before = await c.RequestAgentInfoAsync(Timeout, cts.Token);
        Assert.Equal(random, before.DisplayName);

        // Authenticated (both trust each other's key): the real name.
        var outcomes = await Task.WhenAll(
            OspPairingSession.EstablishAsync(s, OspAuthenticationOptions.ForAdvertiser(serverId), new TestPairingHost(), new TrustsOne(clientId.Fingerprint), cts.Token),
            OspPairingSession.EstablishAsync(c, OspAuthenticationOptions.ForListener(clientId, serverId.AuthToken), new TestPairingHost(), new TrustsOne(serverId.Fingerprint), cts.Token));
        Assert.All(outcomes, o => Assert.True(o.IsAuthenticated, o.Status.ToString()));
        var after = await c.RequestAgentInfoAsync(Timeout, cts.Token);
        Assert.Equal("Secret Study", after.DisplayName);
    }
}
