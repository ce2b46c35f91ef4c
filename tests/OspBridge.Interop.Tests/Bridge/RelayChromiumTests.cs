using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13, "where they cannot reach each other directly (another subnet), the bridge relays": three namespaces —
/// A: Chromium (Playwright) on 10.213.0.1/24, default route to the LAN's gateway namespace; the bridge
/// (<c>ospbridge serve</c>) with two interfaces, 10.213.0.2 on A's segment and 10.213.2.254 on B's (its own veth, IP
/// forwarding off); B: the device (<c>agent --camera test</c>) on 10.213.2.1/24, alone on its segment. No route joins A
/// and B (the gateway knows only 10.213.0.0/24 and nobody forwards), so media can only flow through the bridge's TURN
/// relay: the web UI (login, PIN pairing, live camera) gets the relay from <c>/api/relay/ice-servers/{id}</c> and
/// Chromium plays the camera (framesDecoded ≥ 100) over its relay candidate; the relay's counters show the bytes.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class RelayChromiumTests(ITestOutputHelper output)
{
    private const string Token = "relay-admin-token-0123456789";
    private const int BridgePort = 18093;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan IpTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Browser_on_another_subnet_plays_the_camera_through_the_bridge_relay()
    {
        string bridgeOrigin = $"http://10.213.0.2:{BridgePort}";
        await using var rig = await BridgeChromiumRig.StartAsync("relay interop", 3, ["--autoplay-policy=no-user-gesture-required"], testCamera: true);
        var browserHost = rig.Harness.Host(0);
        var bridgeHost = rig.Harness.Host(1);
        var deviceHost = rig.Harness.Host(2);
        string gateway = browserHost.Lan.BridgeNamespace;

        // Subnet B: the device's veth leaves the LAN's switch and becomes the bridge host's second interface.
        // No route A <-> B by construction: nobody forwards, and the browser's gateway has no route to 10.213.2.0/24.
        await BridgeChromiumRig.MoveDeviceToSubnetBAsync(bridgeHost, deviceHost);
        var gwRoute = await NetnsLan.RunCommandAsync("ip", ["-n", gateway, "route", "get", "10.213.2.1"], IpTimeout);
        Assert.True(gwRoute.ExitCode != 0, "the gateway namespace has a route to subnet B: " + gwRoute.StandardOutput);

        string name = BridgeChromiumRig.UniqueName("Doorbell");
        var agent = rig.StartAgent(deviceHost, name, "--camera", "test");
        var serve = rig.StartServe(bridgeHost, "10.213.0.2", BridgePort, Token, mdnsInterface: "ethB");
        var page = rig.Page;
        var wait = new LocatorWaitForOptions { Timeout = (float)Step.TotalMilliseconds };
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            string relayLine = await serve.WaitForLineAsync(l => l.StartsWith("relay ", StringComparison.Ordinal), Step);
            Assert.Contains("(auto)", relayLine, StringComparison.Ordinal);
            string admin = await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), Step);
            Assert.StartsWith($"admin {bridgeOrigin}/#token=", admin, StringComparison.Ordinal);

            // The UI: log in by the admin URL, find the device (mDNS on the bridge's subnet-B side), pair with the PIN.
            await page.GotoAsync(admin["admin ".Length..]);
            var item = page.Locator("#devices li", new() { HasText = name });
            await item.WaitForAsync(wait);
            await item.Locator("a.device-name").ClickAsync();
            await rig.PairWithPinInUiAsync(page, Step);

            // The live camera starts by itself; the page's WHEP client asked the bridge for ICE servers first.
            await BridgeChromiumRig.AssertCameraPlaysAsync(page, output, Step, polls: 180);

            // What the bridge hands this browser for this device: its TURN relay on the address the browser reached it by.
            string id = await page.EvaluateAsync<string>("async (n) => (await (await fetch('/api/devices')).json()).find(d => d.name === n).id", name);
            string ice = await page.EvaluateAsync<string>("async (id) => JSON.stringify(await (await fetch('/api/relay/ice-servers/' + id)).json())", id);
            output.WriteLine("ice-servers: " + ice);
            using (var doc = JsonDocument.Parse(ice))
            {
                Assert.True(doc.RootElement.GetProperty("relay").GetBoolean(), ice);
                Assert.StartsWith("turn:10.213.0.2:", doc.RootElement.GetProperty("iceServers")[0].GetProperty("urls")[0].GetString(), StringComparison.Ordinal);
            }

            // The media went through the relay: bytes from the device (peer) to the browser (client), and the RTCP back.
            string relay = await page.EvaluateAsync<string>("async () => JSON.stringify(await (await fetch('/api/relay')).json())");
            output.WriteLine("relay: " + relay);
            using (var doc = JsonDocument.Parse(relay))
            {
                var s = doc.RootElement.GetProperty("stats");
                Assert.True(s.GetProperty("allocationsCreated").GetInt64() >= 1, relay);
                Assert.True(s.GetProperty("bytesToClients").GetInt64() > 100_000, "the relay carried little or no media to the browser: " + relay);
                Assert.True(s.GetProperty("bytesToPeers").GetInt64() > 0, "nothing went from the browser to the device through the relay: " + relay);
            }

            // A data channel over /ws/{id} signaling (go2rtc-style), with the ICE servers fetched as an app would:
            // it opens, and Chromium's selected pair uses its relay candidate.
            string dc = await page.EvaluateAsync<string>(WsDataChannelScript, id);
            output.WriteLine("ws data channel: " + dc);
            using (var doc = JsonDocument.Parse(dc))
            {
                Assert.True(doc.RootElement.GetProperty("open").GetBoolean(), dc);
                Assert.Equal("relay", doc.RootElement.GetProperty("localType").GetString());
            }
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    private const string WsDataChannelScript = """
        async (id) => {
          const ice = await (await fetch('/api/relay/ice-servers/' + id)).json();
          const pc = new RTCPeerConnection({ iceServers: ice.iceServers });
          const ch = pc.createDataChannel('http-proxy');
          let timer;
          const opened = new Promise((res) => { ch.onopen = () => res(true); timer = setTimeout(() => res(false), 60000); });
          const ws = new WebSocket('ws://' + location.host + '/ws/' + id);
          await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('/ws did not open')); });
          const errors = [];
          ws.onmessage = async (e) => {
            const m = JSON.parse(e.data);
            if (m.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
            else if (m.type === 'candidate' && m.candidate) {
              try { await pc.addIceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid ?? '0', sdpMLineIndex: m.sdpMLineIndex ?? 0 }); } catch (err) { errors.push(String(err)); }
            } else if (m.type === 'error') errors.push(m.error);
          };
          pc.onicecandidate = (e) => ws.send(JSON.stringify(e.candidate
            ? { type: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
            : { type: 'candidate', candidate: '' }));
          await pc.setLocalDescription(await pc.createOffer());
          ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
          const open = await opened;
          clearTimeout(timer);
          let localType = '';
          const stats = await pc.getStats();
          stats.forEach(s => {
            if (s.type === 'transport' && s.selectedCandidatePairId) {
              const pair = stats.get(s.selectedCandidatePairId);
              if (pair) localType = stats.get(pair.localCandidateId)?.candidateType ?? '';
            }
          });
          const state = pc.iceConnectionState;
          ws.close();
          pc.close();
          return JSON.stringify({ open, localType, state, errors });
        }
        """;
}
