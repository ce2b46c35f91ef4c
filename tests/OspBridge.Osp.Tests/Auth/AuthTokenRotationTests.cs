using System.Net;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>
/// Issue 10 "after repeated failures the peer is flagged and <c>at</c> rotated": real wrong-PIN attempts over loopback
/// QUIC make the limiter flag the peer; the advertiser then issues a new <c>at</c>, re-announces its TXT over mDNS on
/// <c>lo</c> (a browser sees the new value), and the old token is refused afterwards while the new one pairs.
/// </summary>
public sealed class AuthTokenRotationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static async Task<OspAuthenticationResult[]> AttemptAsync(OspAgentListener listener, OspAgentOptions server, OspAgentOptions client,
        AuthAttemptLimiter limiter, string tokenTheClientKnows, bool wrongPin, CancellationToken ct)
    {
        var accept = listener.AcceptAsync(ct);
        await using var c = await OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, client, ct);
        await using var s = await accept.WaitAsync(Timeout, ct);
        var presenter = new TestPairingHost();
        var consumer = TestPairingHost.TypingWhatIsShownBy(presenter, wrongPin ? _ => "1" : null);
        return await Task.WhenAll(
            OspAuthentication.AuthenticateAsync(s, new OspAuthenticationOptions
            {
                Identity = server.Identity, IsAdvertiser = true, Limiter = limiter,
                Capabilities = new AuthCapabilities { PskEaseOfInput = 0, PskInputMethods = [PskInputMethod.Numeric], PskMinBitsOfEntropy = 20 },
                StepTimeout = TimeSpan.FromSeconds(3),
            }, presenter, ct),
            OspAuthentication.AuthenticateAsync(c, OspAuthenticationOptions.ForListener(client.Identity, tokenTheClientKnows), consumer, ct));
    }

    [Fact]
    public async Task Repeated_failures_rotate_the_at_token_re_announce_it_and_the_old_one_is_refused()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var identity = AgentIdentity.CreateEphemeral("Rotating Speaker " + Guid.NewGuid().ToString("N")[..6]);
        var server = new OspAgentOptions { Identity = identity, DisplayName = identity.InstanceName };
        var client = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Guesser"), DisplayName = "Guesser" };
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(1), SuspiciousAfter = 2 });
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, cts.Token);

        await using var agentMdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
        await using var advertiser = await OspAgentAdvertiser.StartAsync(agentMdns, identity, (ushort)listener.LocalEndPoint.Port, 1, null, cts.Token);
        using var rotation = advertiser.RotateAuthTokenOnSuspicion(limiter);
        await using var clientMdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
        using var browser = new OspAgentBrowser(clientMdns);
        var seen = new List<string>();
        var rotated = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        string first = identity.AuthToken;
        var found = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnAgent(OspAgentInfo a)
        {
            if (a.Txt.Fingerprint != identity.Fingerprint) return;
            lock (seen) seen.Add(a.Txt.AuthToken);
            if (a.Txt.AuthToken == first) found.TrySetResult();
            else rotated.TrySetResult(a.Txt.AuthToken);
        }
        browser.AgentAdded += OnAgent;
        browser.AgentUpdated += OnAgent;
        await browser.StartAsync(cts.Token);
        await found.Task.WaitAsync(Timeout, cts.Token); // the listener learnt the first at from TXT

        // Two wrong PINs with the right token: the second flags the peer and rotates at.
        for (int i = 0; i < 2; i++)
        {
            var r = await AttemptAsync(listener, server, client, limiter, first, wrongPin: true, cts.Token);
            Assert.False(r[0].IsAuthenticated);
            Assert.True(r[0].Failure is OspAuthFailure.ProofInvalid or OspAuthFailure.PeerRejected or OspAuthFailure.ConnectionClosed, $"{r[0].Failure}: {r[0].Message}; client {r[1].Failure}: {r[1].Message}");
            await Task.Delay(20, cts.Token); // the 1 ms back-off
        }
        string announced = await rotated.Task.WaitAsync(Timeout, cts.Token);
        Assert.NotEqual(first, announced);
        Assert.Equal(identity.AuthToken, announced); // what the TXT re-announcement carried is the identity's new token
        Assert.False(limiter.AuthTokenRotationRequested); // acknowledged

        // The old token is dropped now (no PIN shown), the new one pairs.
        var old = await AttemptAsync(listener, server, client, limiter, first, wrongPin: false, cts.Token);
        Assert.Equal(OspAuthFailure.InvalidAuthToken, old[0].Failure);
        await Task.Delay(20, cts.Token);
        var fresh = await AttemptAsync(listener, server, client, limiter, announced, wrongPin: false, cts.Token);
        Assert.True(fresh[0].IsAuthenticated, fresh[0].Message);
        Assert.True(fresh[1].IsAuthenticated, fresh[1].Message);
    }
}
