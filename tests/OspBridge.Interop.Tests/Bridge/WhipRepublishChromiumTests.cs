using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13: "a stream published to /whip/{id} is also viewable at /whep/{id}". Chromium and <c>ospbridge serve</c> in
/// one namespace, a device agent with the test camera (640×360) in another. Page 1 publishes Chromium's fake camera
/// (320×240) and fake microphone with WHIP (plain fetch, complete offer); page 2 views <c>/whep/{id}?stream=published</c>:
/// the device forwards the publisher's H.264 frames (no transcoding) to the viewer, which decodes ≥ 100 frames no wider
/// than the published 320 pixels (the camera would be 640). Then the publisher leaves (DELETE): the device ends the
/// published stream, closes the viewer's peer connection and tells the bridge, so a PATCH on the viewer's WHEP session
/// answers 404 and the viewer's Chromium peer connection leaves <c>connected</c>.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class WhipRepublishChromiumTests(ITestOutputHelper output)
{
    private const string Token = "interop-admin-token-republish-01";
    private const int BridgePort = 18083;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Stream_published_with_whip_is_viewed_at_whep_published_and_its_viewers_end_with_the_publisher()
    {
        await using var rig = await BridgeChromiumRig.StartAsync("WHIP re-publish Chromium test", 2, BridgeChromiumRig.MediaFlags, testCamera: true);
        string name = BridgeChromiumRig.UniqueName("Screen");
        var agent = rig.StartAgent(rig.Harness.OurHost, name, "--camera", "test");
        var serve = rig.StartServe(rig.Harness.BrowserHost, "127.0.0.1", BridgePort, Token);
        var publisherPage = rig.Page;
        string origin = $"http://127.0.0.1:{BridgePort}";
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            await serve.WaitForLineAsync(l => l.StartsWith("listening on ", StringComparison.Ordinal), Step);
            static Task TestPage(IRoute route) => route.FulfillAsync(new()
            {
                Status = 200, ContentType = "text/html", Body = "<!doctype html><title>republish</title><video id=v muted autoplay playsinline></video>",
            });
            await publisherPage.RouteAsync(origin + "/test-page", TestPage);
            await publisherPage.GotoAsync(origin + "/test-page");

            string id = await rig.PairByApiAsync(publisherPage, Token, name, Step);

            // Before anything is published: 409 + Retry-After.
            Assert.Equal(409, await publisherPage.EvaluateAsync<int>(EarlyViewScript, new { token = Token, id }));

            // Page 1 publishes camera + microphone.
            string published = await publisherPage.EvaluateAsync<string>(PublishScript, new { token = Token, id });
            output.WriteLine("publish: " + published);
            using (var doc = JsonDocument.Parse(published))
            {
                Assert.Equal(201, doc.RootElement.GetProperty("status").GetInt32());
                Assert.Equal("connected", doc.RootElement.GetProperty("state").GetString());
            }
            await agent.WaitForLineAsync(l => l.StartsWith("published stream from ", StringComparison.Ordinal) && l.Contains("video", StringComparison.Ordinal), Step);

            // Page 2 views it.
            var viewerPage = await rig.NewPageAsync(); // its own context (the harness's page owns its context)
            await viewerPage.RouteAsync(origin + "/test-page", TestPage);
            await viewerPage.GotoAsync(origin + "/test-page");
            string viewed = await viewerPage.EvaluateAsync<string>(ViewScript, new { token = Token, id });
            output.WriteLine("view: " + viewed);
            string resource;
            using (var doc = JsonDocument.Parse(viewed))
            {
                var r = doc.RootElement;
                Assert.Equal(201, r.GetProperty("status").GetInt32());
                Assert.True(r.GetProperty("framesDecoded").GetInt64() >= 100, "the viewer of the published stream decoded too few frames: " + viewed);
                long width = r.GetProperty("frameWidth").GetInt64();
                Assert.True(width is > 0 and <= 320, "the viewer's frames are not the published 320x240 camera (the device camera is 640 wide): " + viewed);
                resource = r.GetProperty("resource").GetString()!;
            }
            Assert.Contains(agent.StandardOutputLines, l => l.StartsWith("viewer ", StringComparison.Ordinal) && l.Contains("the published stream", StringComparison.Ordinal));

            // The publisher leaves: the viewer's session ends on the device and on the bridge.
            Assert.Equal(200, await publisherPage.EvaluateAsync<int>(UnpublishScript, new { token = Token }));
            await agent.WaitForLineAsync(l => l.StartsWith("published stream from ", StringComparison.Ordinal) && l.Contains(" ended ", StringComparison.Ordinal), Step);
            string ending = await viewerPage.EvaluateAsync<string>(ViewerEndScript, new { token = Token, resource });
            output.WriteLine("viewer after the publisher left: " + ending);
            using (var doc = JsonDocument.Parse(ending))
            {
                Assert.Equal(404, doc.RootElement.GetProperty("patch").GetInt32());
                Assert.NotEqual("connected", doc.RootElement.GetProperty("state").GetString());
            }
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    // Complete offers (gathering finished before the POST), so no PATCH is needed.
    private const string Helpers = """
          const gathered = pc => new Promise(r => {
            if (pc.iceGatheringState === 'complete') return r();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); });
            setTimeout(r, 10000);
          });
          const post = async (pc, url, token) => {
            await pc.setLocalDescription(await pc.createOffer());
            await gathered(pc);
            const res = await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
            if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
            return res;
          };
        """;

    private const string EarlyViewScript = """
        async (a) => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          const offer = await pc.createOffer();
          const res = await fetch('/whep/' + a.id + '?stream=published', { method: 'POST', headers: { Authorization: 'Bearer ' + a.token, 'Content-Type': 'application/sdp' }, body: offer.sdp });
          pc.close();
          return res.status;
        }
        """;

    private const string PublishScript = "async (a) => {" + Helpers + """
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 30 } });
          const pc = new RTCPeerConnection();
          pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
          pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
          const res = await post(pc, '/whip/' + a.id, a.token);
          window.publisher = { pc, stream, resource: res.headers.get('Location') };
          for (let i = 0; i < 300 && pc.connectionState !== 'connected'; i++) await new Promise(r => setTimeout(r, 100));
          return JSON.stringify({ status: res.status, state: pc.connectionState, resource: window.publisher.resource });
        }
        """;

    private const string UnpublishScript = """
        async (a) => {
          const p = window.publisher;
          p.pc.close();
          p.stream.getTracks().forEach(t => t.stop());
          return (await fetch(p.resource, { method: 'DELETE', headers: { Authorization: 'Bearer ' + a.token } })).status;
        }
        """;

    private const string ViewScript = "async (a) => {" + Helpers + """
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          const video = document.getElementById('v');
          pc.ontrack = e => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {}); };
          const res = await post(pc, '/whep/' + a.id + '?stream=published', a.token);
          window.viewer = pc;
          const stats = async () => {
            let n = 0, w = 0;
            (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') { n = s.framesDecoded || 0; w = s.frameWidth || 0; } });
            return [n, w];
          };
          let frames = 0, width = 0;
          for (let i = 0; i < 600 && frames < 100 && res.status === 201; i++) { await new Promise(r => setTimeout(r, 100)); [frames, width] = await stats(); }
          return JSON.stringify({ status: res.status, framesDecoded: frames, frameWidth: width, state: pc.connectionState,
                                  resource: new URL(res.headers.get('Location') || '', location.href).href });
        }
        """;

    // The device closed the viewer's peer connection: the bridge's session is gone (PATCH → 404) and Chromium sees
    // the peer connection leave 'connected' (DTLS close_notify, or ICE consent failing) within 60 s.
    private const string ViewerEndScript = """
        async (a) => {
          let patch = 0;
          for (let i = 0; i < 300; i++) {
            const res = await fetch(a.resource, { method: 'PATCH', headers: { Authorization: 'Bearer ' + a.token, 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=ice-options:trickle\r\n' });
            patch = res.status;
            if (patch === 404 && window.viewer.connectionState !== 'connected') break;
            await new Promise(r => setTimeout(r, 200));
          }
          return JSON.stringify({ patch, state: window.viewer.connectionState });
        }
        """;
}
