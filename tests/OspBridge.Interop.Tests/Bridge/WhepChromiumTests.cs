using OspBridge.Interop.Tests.WebRtc;
using OspBridge.Testing;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13 must-show 2 (WHEP/WHIP with clients we did not write): Chromium (Playwright) and <c>ospbridge serve</c> in
/// one namespace, a device agent with the test camera (<c>agent --camera test</c>) in another. In the page (the
/// bridge's origin, a secure context on loopback) the npm <c>whip-whep</c> 1.2.0 clients (medooze; interop/node_modules,
/// served to the page by the test): <c>WHEPClient.view</c> plays the camera through <c>/whep/{id}</c> (it posts its
/// offer before gathering and trickles every candidate with PATCH) until framesDecoded ≥ 100, <c>stop()</c> DELETEs
/// and the device's viewer leaves; <c>WHIPClient.publish</c> sends Chromium's fake microphone to <c>/whip/{id}</c>:
/// the device's answer accepts the audio (recvonly), Chromium sends it, and the device counts the packets it received.
/// Debian's <c>simple-whip-client</c> (0.0~git20230131-1, bookworm) is not used: it aborts at start-up on bookworm
/// whatever the server ("libsoup2 symbols detected. Using libsoup2 and libsoup3 in the same process is not supported":
/// the binary links libsoup-2.4 while GStreamer's nice/webrtc plugins pull in libsoup-3.0 through libnice/gupnp-igd).
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class WhepChromiumTests(ITestOutputHelper output)
{
    private const string Token = "interop-admin-token-0123456789";
    private const int BridgePort = 18081;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task WhipWhep_npm_clients_view_the_camera_and_publish_the_microphone()
    {
        string lib = Path.Combine(RepoPaths.Interop, "node_modules", "whip-whep");
        if (!File.Exists(Path.Combine(lib, "whep.js"))) throw new InvalidOperationException($"whip-whep is not installed ({lib}): run 'npm ci' in {RepoPaths.Interop}");
        await using var rig = await BridgeChromiumRig.StartAsync("WHEP Chromium interop", 2, BridgeChromiumRig.MediaFlags, testCamera: true);
        string name = BridgeChromiumRig.UniqueName("Doorbell");
        var agent = rig.StartAgent(rig.Harness.OurHost, name, "--camera", "test");
        var serve = rig.StartServe(rig.Harness.BrowserHost, "127.0.0.1", BridgePort, Token);
        var page = rig.Page;
        string origin = $"http://127.0.0.1:{BridgePort}";
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            await serve.WaitForLineAsync(l => l.StartsWith("listening on ", StringComparison.Ordinal), Step);

            // The npm modules, served by the test on the bridge's origin (the bridge does not ship them).
            await page.RouteAsync(origin + "/test-lib/**", async route =>
            {
                string file = Path.GetFileName(new Uri(route.Request.Url).AbsolutePath);
                if (file is not ("whep.js" or "whip.js")) { await route.FulfillAsync(new() { Status = 404 }); return; }
                await route.FulfillAsync(new() { Status = 200, ContentType = "text/javascript", Body = await File.ReadAllTextAsync(Path.Combine(lib, file)) });
            });
            await page.RouteAsync(origin + "/test-page", route => route.FulfillAsync(new()
            {
                Status = 200, ContentType = "text/html", Body = "<!doctype html><title>whep interop</title><video id=v muted autoplay playsinline></video>",
            }));
            await page.GotoAsync(origin + "/test-page");

            // Pair through the bridge's API with the PIN the device prints.
            string id = await rig.PairByApiAsync(page, Token, name, Step);

            // WHEP: whip-whep's WHEPClient plays the camera.
            static bool Left(string l) => l.StartsWith("viewer ", StringComparison.Ordinal) && l.Contains(" left", StringComparison.Ordinal);
            int leftBefore = agent.StandardOutputLines.Count(Left);
            string whep = await page.EvaluateAsync<string>(WhepScript, new { token = Token, id });
            output.WriteLine("whep: " + whep);
            using (var doc = JsonDocument.Parse(whep))
            {
                var r = doc.RootElement;
                Assert.True(r.GetProperty("framesDecoded").GetInt64() >= 100, whep);
                Assert.Matches($"^{origin}/whep/{id}/sessions/[A-Za-z0-9_-]{{22}}$", r.GetProperty("resource").GetString());
                Assert.True(r.GetProperty("patches").GetInt32() >= 1, "whip-whep trickled nothing: " + whep);
                Assert.All(r.GetProperty("patchStatus").EnumerateArray(), s => Assert.Equal(204, s.GetInt32()));
                Assert.Equal(200, r.GetProperty("deleteStatus").GetInt32());
                Assert.Equal(404, r.GetProperty("deleteAgain").GetInt32());
            }
            var until = DateTime.UtcNow + Step;
            while (agent.StandardOutputLines.Count(Left) <= leftBefore) // DELETE ended the device's peer connection
            {
                Assert.True(DateTime.UtcNow < until, "the device's viewer did not leave after DELETE: " + string.Join(" | ", agent.StandardOutputLines));
                await Task.Delay(200);
            }

            // WHIP: whip-whep's WHIPClient publishes Chromium's fake microphone to the device (talk-back).
            string whip = await page.EvaluateAsync<string>(WhipScript, new { token = Token, id });
            output.WriteLine("whip: " + whip);
            using (var doc = JsonDocument.Parse(whip))
            {
                var r = doc.RootElement;
                Assert.Contains("a=recvonly", r.GetProperty("answer").GetString(), StringComparison.Ordinal);
                Assert.Equal("connected", r.GetProperty("state").GetString());
                Assert.True(r.GetProperty("packetsSent").GetInt64() >= 100, whip);
                Assert.Equal(200, r.GetProperty("deleteStatus").GetInt32());
            }

            // The device received it: its talk-back line for the session (printed when the session ends) counts packets.
            string talk = await agent.WaitForLineAsync(l => l.StartsWith("talk-back from ", StringComparison.Ordinal), Step);
            output.WriteLine("device: " + talk);
            var counted = System.Text.RegularExpressions.Regex.Match(talk, @": (\d+) packets");
            Assert.True(counted.Success && long.Parse(counted.Groups[1].Value, CultureInfo.InvariantCulture) >= 50, talk);
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    // Counts whip-whep's PATCH/DELETE answers by wrapping fetch (the client itself is untouched).
    private const string WhepScript = """
        async (a) => {
          const { WHEPClient } = await import('/test-lib/whep.js');
          const patchStatus = [];
          let deleteStatus = 0;
          const realFetch = window.fetch;
          window.fetch = async (url, init) => {
            const r = await realFetch(url, init);
            if (init && init.method === 'PATCH') patchStatus.push(r.status);
            if (init && init.method === 'DELETE') deleteStatus = r.status;
            return r;
          };
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          const video = document.getElementById('v');
          pc.ontrack = e => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {}); };
          const client = new WHEPClient();
          await client.view(pc, location.origin + '/whep/' + a.id, a.token);
          const decoded = async () => {
            let n = 0;
            (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded || 0; });
            return n;
          };
          let frames = 0;
          for (let i = 0; i < 600 && frames < 100; i++) { await new Promise(r => setTimeout(r, 100)); frames = await decoded(); }
          for (let i = 0; i < 50 && patchStatus.length === 0; i++) await new Promise(r => setTimeout(r, 100));
          const resource = client.resourceURL.href;
          const state = pc.connectionState;
          await client.stop();
          window.fetch = realFetch;
          const again = await fetch(resource, { method: 'DELETE', headers: { Authorization: 'Bearer ' + a.token } });
          return JSON.stringify({ framesDecoded: frames, resource, state, patches: patchStatus.length, patchStatus,
                                  deleteStatus, deleteAgain: again.status });
        }
        """;

    private const string WhipScript = """
        async (a) => {
          const { WHIPClient } = await import('/test-lib/whip.js');
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
          const pc = new RTCPeerConnection();
          pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
          let deleteStatus = 0;
          const realFetch = window.fetch;
          window.fetch = async (url, init) => {
            const r = await realFetch(url, init);
            if (init && init.method === 'DELETE') deleteStatus = r.status;
            return r;
          };
          const client = new WHIPClient();
          await client.publish(pc, location.origin + '/whip/' + a.id, a.token);
          const sent = async () => {
            let n = 0;
            (await pc.getStats()).forEach(s => { if (s.type === 'outbound-rtp' && s.kind === 'audio') n = s.packetsSent || 0; });
            return n;
          };
          for (let i = 0; i < 300 && pc.connectionState !== 'connected'; i++) await new Promise(r => setTimeout(r, 100));
          const state = pc.connectionState;
          let packets = 0;
          for (let i = 0; i < 100 && packets < 100; i++) { await new Promise(r => setTimeout(r, 100)); packets = await sent(); }
          const answer = pc.remoteDescription ? pc.remoteDescription.sdp : '';
          await client.stop();
          window.fetch = realFetch;
          stream.getTracks().forEach(t => t.stop());
          return JSON.stringify({ state, packetsSent: packets, answer, deleteStatus });
        }
        """;
}
