using OspBridge.Bridge.Signaling;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Signaling;
using OspBridge.Osp.Tests.Agent;

namespace OspBridge.Bridge.Tests.Signaling;

public sealed class LanSignalingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static OspAgentOptions Agent(string name) => new() { Identity = AgentIdentity.CreateEphemeral(name), DisplayName = name, RequireAuthentication = false };

    private static RTCPeerConnection NewPc() => new(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });

    [Fact]
    public async Task OfferAnswerOverOspOpensDataChannelsThatCarryTextAndBinary()
    {
        await using var link = await OspLoopbackLink.OpenAsync(Agent("Device"), Agent("Controller"));
        var (client, server) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);

        var remoteChannels = new List<RTCDataChannel>();
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var deviceSignaling = new LanSignalingSession(server);
        var deviceSide = Task.Run(async () =>
        {
            var offer = (await deviceSignaling.AcceptOfferAsync(cts.Token))!;
            Assert.Equal("lan", offer.Label);
            var pc = NewPc();
            await deviceSignaling.AnswerAsync(offer, await LanSignaling.AnswerAsync(pc, offer.Sdp, Timeout, cts.Token), cts.Token);
            pc.OnDataChannel += ch =>
            {
                lock (remoteChannels)
                {
                    remoteChannels.Add(ch);
                    if (remoteChannels.Count == 2) allOpen.TrySetResult();
                }
            };
            return pc;
        });

        await using var pc = NewPc();
        var text = pc.CreateDataChannel("text");
        var binary = pc.CreateDataChannel("binary", new RTCDataChannelInit { Ordered = false });
        using var controllerSignaling = new LanSignalingSession(client);
        await LanSignaling.OfferAsync(controllerSignaling, pc, "lan", Timeout, cts.Token);
        await using var devicePc = await deviceSide.WaitAsync(Timeout);
        await text.WaitOpenAsync(cts.Token);
        await binary.WaitOpenAsync(cts.Token);
        await allOpen.Task.WaitAsync(Timeout);

        var remoteText = remoteChannels.Single(c => c.Label == "text");
        var remoteBinary = remoteChannels.Single(c => c.Label == "binary");
        Assert.False(remoteBinary.Ordered);

        await text.SendAsync("héllo"u8.ToArray(), isText: true, cts.Token);
        var m1 = await remoteText.ReceiveAsync(cts.Token);
        Assert.True(m1!.Value.IsText);
        Assert.Equal("héllo", System.Text.Encoding.UTF8.GetString(m1.Value.Data.Span));

        var payload = new byte[100_000];
        new Random(7).NextBytes(payload);
        await binary.SendAsync(payload, isText: false, cts.Token);
        var m2 = await remoteBinary.ReceiveAsync(cts.Token);
        Assert.False(m2!.Value.IsText);
        Assert.Equal(payload, m2.Value.Data.ToArray());
    }

    [Fact]
    public async Task GarbageOfferIsRejectedWithAnErrorAnswer()
    {
        await using var link = await OspLoopbackLink.OpenAsync(Agent("Device"), Agent("Controller"));
        var (client, server) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);

        // The device serves offers with the Bridge's WebRTC answerer: WebRTC refuses the garbage, the session rejects the offer.
        // (The session subscribes to offers first: an offer that arrives before any subscriber goes to the connection's
        // receive queue, not to a session created later.)
        using var deviceSignaling = new LanSignalingSession(server);
        var created = new List<RTCPeerConnection>();
        var serving = deviceSignaling.ServeAsync(LanSignaling.Answerer(NewPc, created.Add, Timeout), cts.Token);

        var answer = client.WaitForAsync<LanSignalingAnswer>(a => a.RequestId == 42, Timeout, cts.Token);
        await client.SendAsync(new LanSignalingOffer { RequestId = 42, SessionId = 42, Sdp = "this is not SDP" }, cts.Token);
        var a = await answer;
        Assert.Equal(Result.PermanentError, a.Result);
        Assert.Null(a.Sdp);
        Assert.False(string.IsNullOrEmpty(a.ErrorMessage));
        Assert.Empty(created); // the failed peer connection was disposed, not handed out

        // And an offerer going through the library sees the rejection as OspException(Refused).
        using var controllerSignaling = new LanSignalingSession(client);
        var refused = await Assert.ThrowsAsync<OspException>(() => controllerSignaling.OfferAsync("still not SDP", null, cts.Token));
        Assert.Equal(OspError.Refused, refused.Error);
        await client.CloseAsync(OspConnection.NoErrorCode, cts.Token);
        await serving.WaitAsync(Timeout); // serving ends when the connection closes
    }
}
