using OspBridge.Bridge.Camera;
using OspBridge.Bridge.Commands;
using OspBridge.Bridge.Signaling;
using OspBridge.Crypto.Identity;
using OspBridge.Media.Sources;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Signaling;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// The "nothing published" answer to a view of the published stream is the device's (issue 12): over a real OSP
/// connection and LAN signaling (no bridge involved), an offer labelled <see cref="CameraService.PublishedLabel"/> to a
/// device with nothing published is rejected with <c>transient-error</c> (the bridge turns that into WHEP 409 +
/// Retry-After), and the offerer's <see cref="OspException"/> carries that code; once a peer publishes over LAN
/// signaling (label <see cref="CameraService.PublishLabel"/>, a send-only audio offer), the same view offer is answered
/// and the published audio reaches the viewer through the published stream's <see cref="MediaSourceBase"/> and hub.
/// </summary>
public sealed class PublishedViewRefusalTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };
    private readonly List<string> _log = [];

    public void Dispose()
    {
        lock (_log) foreach (var l in _log.TakeLast(60)) output.WriteLine(l);
    }

    private LineLogger Logger(string prefix) => new(s => { lock (_log) _log.Add(s); }, prefix);

    private static OspAgentOptions Agent(string name) => new() { Identity = AgentIdentity.CreateEphemeral(name), DisplayName = name, RequireAuthentication = false };

    private static async Task<string> OfferAsync(RTCPeerConnection pc)
    {
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync();
        return pc.LocalDescription!.Sdp;
    }

    [Fact]
    public async Task View_of_nothing_published_is_refused_transiently_by_the_device_and_answered_once_a_peer_publishes()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        await using var camera = new CameraService("test", null, Logger("cam "), null, maxViewers: 4);
        var device = Agent("Device");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), device);
        var accept = listener.AcceptAsync();
        await using var client = await OspConnection.ConnectAsync(listener.LocalEndPoint, device.Identity.Hostname, device.Identity.Fingerprint, Agent("Controller"));
        await using var server = await accept.WaitAsync(Timeout);
        using var cts = new CancellationTokenSource(Timeout * 2);

        // The device answers like the agent: a peer connection per offer, the camera attached before the answer.
        var devicePcs = new List<RTCPeerConnection>();
        using var deviceSignaling = new LanSignalingSession(server);
        var serving = deviceSignaling.ServeAsync(async (offer, token) =>
        {
            var pc = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
            try
            {
                string sdp = await LanSignaling.AnswerAsync(pc, offer.Sdp, Timeout, t => camera.AttachAsync(pc, "controller-1", offer, t), token);
                lock (devicePcs) devicePcs.Add(pc);
                return sdp;
            }
            catch
            {
                await pc.DisposeAsync();
                throw;
            }
        }, 2, cts.Token);
        using var controllerSignaling = new LanSignalingSession(client);

        // 1. Nothing published: the device refuses with transient-error ("not now"), not permanent-error.
        await using (var early = new RTCPeerConnection(Loopback))
        {
            await early.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
            string sdp = await OfferAsync(early);
            var refused = await Assert.ThrowsAsync<OspException>(() => controllerSignaling.OfferSessionAsync(controllerSignaling.NewSessionId(), sdp, CameraService.PublishedLabel, cts.Token));
            output.WriteLine("refused: " + refused.Message);
            Assert.Equal(OspError.Refused, refused.Error);
            Assert.Equal((long)Result.TransientError, refused.ApplicationErrorCode);
            Assert.Contains("nothing is published", refused.Message, StringComparison.Ordinal);
        }
        Assert.Null(camera.Published);
        Assert.Equal(0, camera.Hub.SourceStarts); // the refusal did not start the camera

        // 2. A peer publishes audio over LAN signaling (no bridge, no WHIP endpoint): the device now has a published stream.
        await using var publisher = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("pub ") });
        var talk = await publisher.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        string publishAnswer = await controllerSignaling.OfferSessionAsync(controllerSignaling.NewSessionId(), await OfferAsync(publisher), CameraService.PublishLabel, cts.Token);
        await publisher.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, publishAnswer));
        for (int i = 0; i < 200 && camera.Published is null; i++) await Task.Delay(50);
        Assert.NotNull(camera.Published);

        // 3. The same kind of view offer is answered now, and the published audio reaches the viewer.
        await using var viewer = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("view ") });
        var listen = await viewer.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        string viewAnswer = await controllerSignaling.OfferSessionAsync(controllerSignaling.NewSessionId(), await OfferAsync(viewer), CameraService.PublishedLabel, cts.Token);
        await viewer.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, viewAnswer));

        await using var tone = MediaSource.Create("test:audio");
        long sent = 0;
        tone.FrameReceived = f =>
        {
            if (f.Codec == MediaCodec.Opus && talk.Sender.WriteFrame(f)) Interlocked.Increment(ref sent);
        };
        await tone.StartAsync(CancellationToken.None);
        long received = 0;
        var frames = listen.Receiver.Frames;
        using (var readFor = new CancellationTokenSource(TimeSpan.FromSeconds(45)))
        {
            try
            {
                while (received < 50 && await frames.WaitToReadAsync(readFor.Token))
                {
                    while (frames.TryRead(out var f))
                        if (f.Codec == MediaCodec.Opus) received++;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
        await tone.StopAsync(CancellationToken.None);
        var published = camera.Published;
        output.WriteLine($"sent {sent}, viewer received {received}, published frames {published?.FramesPublished}, hub sinks {published?.Hub.SinkCount}");
        Assert.True(received >= 50, $"the viewer got {received} Opus frames of the published stream ({sent} sent by the publisher)");
        Assert.Equal(0, camera.Hub.SourceStarts); // the camera itself was never started: only the published stream flowed

        await client.CloseAsync(OspConnection.NoErrorCode, cts.Token);
        await serving.WaitAsync(Timeout);
        List<RTCPeerConnection> pcs;
        lock (devicePcs) pcs = [.. devicePcs];
        foreach (var pc in pcs) await pc.DisposeAsync();
    }
}
