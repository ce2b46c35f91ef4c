using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;
using OspBridge.Testing;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// The bridge's TURN relay over TCP, and PeerJS through the relay, with clients we did not write (issue 13; the
/// network of <see cref="RelayChromiumTests"/>): A: Chromium on 10.213.0.1/24; the bridge on 10.213.0.2 (A) and
/// 10.213.2.254 (B), forwarding off; B: the device (<c>agent --http-origin</c>, a python http.server in its namespace)
/// on 10.213.2.1/24. No route joins A and B, so everything between the browser and the device goes through the relay.
/// (1) Chromium forced onto TURN over TCP — <c>iceTransportPolicy: "relay"</c> with only the
/// <c>turn:…?transport=tcp</c> URL from <c>/api/relay/ice-servers/{id}</c> — opens an <c>http-proxy</c> data channel
/// over <c>/ws/{id}</c> signaling: the selected local candidate is a relay candidate whose relay protocol is tcp, and a
/// PeerFetch v1 GET gets the device's REST answer. (2) peerjs 1.5.5 (npm) with the page's iceServers from the same
/// endpoint opens <c>http-proxy</c> to the device through <c>/peerjs</c> and gets the REST answer over its relay candidate.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class RelayTcpPeerJsChromiumTests(ITestOutputHelper output)
{
    private const string Token = "relay-tcp-admin-token-0123456789";
    private const int BridgePort = 18094;
    private const int OriginPort = 18095;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Chromium_over_tcp_turn_and_peerjs_through_the_relay_reach_a_device_on_another_subnet()
    {
        string peerjs = Path.Combine(RepoPaths.Interop, "node_modules", "peerjs", "dist", "peerjs.min.js");
        if (!File.Exists(peerjs)) throw new InvalidOperationException($"peerjs is not installed ({peerjs}): run 'npm ci' in {RepoPaths.Interop}");
        string bridgeOrigin = $"http://10.213.0.2:{BridgePort}";
        await using var rig = await BridgeChromiumRig.StartAsync("relay interop", 3, []);
        var bridgeHost = rig.Harness.Host(1);
        var deviceHost = rig.Harness.Host(2);

        // Subnet B, as in RelayChromiumTests: the device's veth becomes the bridge host's second interface.
        await BridgeChromiumRig.MoveDeviceToSubnetBAsync(bridgeHost, deviceHost);

        string name = BridgeChromiumRig.UniqueName("Far device");
        var origin = rig.StartOrigin(deviceHost, OriginPort, ("status.json", "{\"ok\":true,\"device\":\"far\"}"));
        var agent = rig.StartAgent(deviceHost, name, "--http-origin", $"http://127.0.0.1:{OriginPort}");
        var serve = rig.StartServe(bridgeHost, "10.213.0.2", BridgePort, Token, mdnsInterface: "ethB");
        var page = rig.Page;
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), Step);
            string tcpLine = await serve.WaitForLineAsync(l => l.StartsWith("relay turn tcp ", StringComparison.Ordinal), Step);
            output.WriteLine(tcpLine);
            await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), Step);

            // A page of the bridge's origin without the UI's CSP (an API error page): pair by the API with the PIN.
            await page.GotoAsync(bridgeOrigin + "/api/none");
            await page.AddScriptTagAsync(new() { Path = peerjs });
            string id = await rig.PairByApiAsync(page, Token, name, Step);

            // (1) TURN over TCP only, relay candidates only.
            string tcp = await page.EvaluateAsync<string>(TcpTurnScript, new { token = Token, id });
            output.WriteLine("tcp turn: " + tcp);
            using (var doc = JsonDocument.Parse(tcp))
            {
                var r = doc.RootElement;
                Assert.StartsWith("turn:10.213.0.2:", r.GetProperty("url").GetString(), StringComparison.Ordinal);
                Assert.EndsWith("?transport=tcp", r.GetProperty("url").GetString(), StringComparison.Ordinal);
                Assert.True(r.GetProperty("open").GetBoolean(), tcp);
                Assert.Equal("relay", r.GetProperty("localType").GetString());
                Assert.Equal("tcp", r.GetProperty("relayProtocol").GetString());
                Assert.Equal(200, r.GetProperty("status").GetInt32());
                Assert.Contains("\"device\":\"far\"", r.GetProperty("body").GetString(), StringComparison.Ordinal);
            }

            // (2) peerjs 1.5.5 with the relay's iceServers.
            string pj = await page.EvaluateAsync<string>(PeerJsScript, new { port = BridgePort, token = Token, id });
            output.WriteLine("peerjs: " + pj);
            using (var doc = JsonDocument.Parse(pj))
            {
                var r = doc.RootElement;
                Assert.True(r.GetProperty("relay").GetBoolean(), "the bridge offered no relay to the page: " + pj);
                Assert.Equal(200, r.GetProperty("status").GetInt32());
                Assert.Contains("\"device\":\"far\"", r.GetProperty("body").GetString(), StringComparison.Ordinal);
                Assert.Equal("relay", r.GetProperty("localType").GetString());
            }

            string relay = await page.EvaluateAsync<string>("async (t) => JSON.stringify(await (await fetch('/api/relay', { headers: { Authorization: 'Bearer ' + t } })).json())", Token);
            output.WriteLine("relay: " + relay);
            using (var doc = JsonDocument.Parse(relay))
            {
                var s = doc.RootElement.GetProperty("stats");
                Assert.True(s.GetProperty("allocationsCreated").GetInt64() >= 2, relay);
                Assert.True(s.GetProperty("bytesToClients").GetInt64() > 0 && s.GetProperty("bytesToPeers").GetInt64() > 0, relay);
            }
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    // A PeerFetch v1 GET on an open http-proxy channel: the head(s) as JSON text, the body as one binary message.
    private const string FetchOverChannel = """
          const peerFetch = (send, onMessage, timeoutMs) => new Promise((res, rej) => {
            const got = [];
            const timer = setTimeout(() => rej(new Error('PeerFetch reply timed out (' + got.length + ' messages)')), timeoutMs);
            onMessage((d) => {
              got.push(d);
              if (typeof d !== 'string') {
                clearTimeout(timer);
                const head = got.filter(x => typeof x === 'string').map(x => JSON.parse(x)).find(m => m.status !== 202);
                res({ status: head ? head.status : 0, body: new TextDecoder().decode(d) });
              }
            });
            send(JSON.stringify({ url: 'http://localhost/status.json', method: 'GET' }));
          });
          const selected = async (pc) => {
            const stats = await pc.getStats();
            let localType = '', relayProtocol = '';
            stats.forEach(s => {
              if (s.type === 'transport' && s.selectedCandidatePairId) {
                const pair = stats.get(s.selectedCandidatePairId);
                const local = pair && stats.get(pair.localCandidateId);
                if (local) { localType = local.candidateType ?? ''; relayProtocol = local.relayProtocol ?? ''; }
              }
            });
            return { localType, relayProtocol };
          };
        """;

    private const string TcpTurnScript = """
        async (a) => {
        """ + FetchOverChannel + """
          const auth = { headers: { Authorization: 'Bearer ' + a.token } };
          const ice = await (await fetch('/api/relay/ice-servers/' + a.id, auth)).json();
          const server = ice.iceServers[0];
          const url = server.urls.find(u => u.startsWith('turn:') && u.endsWith('?transport=tcp'));
          if (!url) return JSON.stringify({ url: '', error: 'no TCP TURN url', ice });
          const pc = new RTCPeerConnection({ iceServers: [{ urls: url, username: server.username, credential: server.credential }], iceTransportPolicy: 'relay' });
          const ch = pc.createDataChannel('http-proxy');
          ch.binaryType = 'arraybuffer';
          let timer;
          const opened = new Promise((res) => { ch.onopen = () => res(true); timer = setTimeout(() => res(false), 60000); });
          const ws = new WebSocket('ws://' + location.host + '/ws/' + a.id + '?token=' + encodeURIComponent(a.token));
          await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('/ws did not open')); });
          const errors = [];
          const candidates = [];
          ws.onmessage = async (e) => {
            const m = JSON.parse(e.data);
            if (m.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
            else if (m.type === 'candidate' && m.candidate) {
              try { await pc.addIceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid ?? '0', sdpMLineIndex: m.sdpMLineIndex ?? 0 }); } catch (err) { errors.push(String(err)); }
            } else if (m.type === 'error') errors.push(m.error);
          };
          pc.onicecandidate = (e) => {
            if (e.candidate) candidates.push(e.candidate.candidate);
            ws.send(JSON.stringify(e.candidate
              ? { type: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
              : { type: 'candidate', candidate: '' }));
          };
          await pc.setLocalDescription(await pc.createOffer());
          ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
          const open = await opened;
          clearTimeout(timer);
          let reply = { status: 0, body: '' };
          if (open) {
            try { reply = await peerFetch((m) => ch.send(m), (f) => { ch.onmessage = (e) => f(e.data); }, 20000); } catch (err) { errors.push(String(err)); }
          }
          const sel = await selected(pc);
          const state = pc.iceConnectionState;
          ws.close();
          pc.close();
          return JSON.stringify({ url, open, ...sel, state, status: reply.status, body: reply.body, candidates, errors });
        }
        """;

    private const string PeerJsScript = """
        async (a) => {
        """ + FetchOverChannel + """
          const Peer = window.Peer || (window.peerjs && (window.peerjs.Peer || window.peerjs.default));
          const ice = await (await fetch('/api/relay/ice-servers/' + a.id, { headers: { Authorization: 'Bearer ' + a.token } })).json();
          const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(what + ' timed out')), ms));
          const peer = new Peer('browser-' + Math.random().toString(36).slice(2), { host: location.hostname, port: a.port, path: '/peerjs/', key: a.token, secure: false, debug: 1, config: { iceServers: ice.iceServers } });
          await Promise.race([new Promise((res, rej) => { peer.on('open', res); peer.on('error', rej); }), timeout(20000, 'peer open')]);
          const conn = peer.connect(a.id, { label: 'http-proxy', serialization: 'raw', reliable: true });
          await Promise.race([new Promise((res, rej) => { conn.on('open', res); conn.on('error', rej); peer.on('error', rej); }), timeout(60000, 'data channel open')]);
          const reply = await peerFetch((m) => conn.send(m), (f) => conn.on('data', f), 20000);
          const sel = await selected(conn.peerConnection);
          peer.destroy();
          return JSON.stringify({ relay: ice.relay, status: reply.status, body: reply.body, ...sel });
        }
        """;
}
