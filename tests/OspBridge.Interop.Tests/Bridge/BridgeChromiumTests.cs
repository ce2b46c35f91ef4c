using OspBridge.Interop.Tests.WebRtc;
using OspBridge.Testing;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13 must-show (non-media part): Chromium (Playwright) and <c>ospbridge serve</c> in one namespace, a device
/// agent (<c>ospbridge agent --http-origin</c> in front of a python http.server) in another. The browser opens the
/// bridge's UI with the admin URL, sees the device, pairs with the PIN read from the device's stdout, calls the REST
/// API through the explorer; then <c>peerjs</c> 1.5.5 (npm, interop/node_modules) in the same page opens an
/// <c>http-proxy</c> channel to the device through <c>/peerjs</c> and gets a PeerFetch v1 answer straight from the
/// device. A failure writes a screenshot (base64 PNG) into the test log.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed class BridgeChromiumTests(ITestOutputHelper output)
{
    private const string Token = "interop-admin-token-0123456789";
    private const int BridgePort = 18080;
    private const int OriginPort = 8000;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Ui_pairs_explores_rest_and_peerjs_reaches_the_device()
    {
        string peerjs = Path.Combine(RepoPaths.Interop, "node_modules", "peerjs", "dist", "peerjs.min.js");
        if (!File.Exists(peerjs)) throw new InvalidOperationException($"peerjs is not installed ({peerjs}): run 'npm ci' in {RepoPaths.Interop}");
        await using var rig = await BridgeChromiumRig.StartAsync("bridge Chromium interop", 2, []);
        var bridgeHost = rig.Harness.BrowserHost;
        var deviceHost = rig.Harness.OurHost;
        string name = BridgeChromiumRig.UniqueName("Porch");
        var origin = rig.StartOrigin(deviceHost, OriginPort, ("status.json", "{\"ok\":true,\"device\":\"porch\"}"));
        var agent = rig.StartAgent(deviceHost, name, "--http-origin", $"http://127.0.0.1:{OriginPort}");
        var serve = rig.StartServe(bridgeHost, "127.0.0.1", BridgePort, Token);
        var page = rig.Page;
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            string admin = await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), Step);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), Step);

            // 1. The UI with the admin URL: logs in, lists the device live.
            await page.GotoAsync(admin["admin ".Length..]);
            var item = page.Locator("#devices li", new() { HasText = name });
            await item.WaitForAsync(new() { Timeout = (float)Step.TotalMilliseconds });
            Assert.Contains("not paired", await item.InnerTextAsync(), StringComparison.Ordinal);
            await item.Locator("a.device-name").ClickAsync();

            // 2. Pair with the PIN the device prints.
            await rig.PairWithPinInUiAsync(page, Step);
            await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step);

            // 3. The REST explorer: GET /status.json through the gateway, pretty JSON shown.
            await page.Locator("#explorer").WaitForAsync(new() { Timeout = (float)Step.TotalMilliseconds });
            await page.FillAsync("#rest-path", "/status.json");
            await page.ClickAsync("#rest-send");
            await page.Locator("#rest-status", new() { HasText = "200" }).WaitForAsync(new() { Timeout = (float)Step.TotalMilliseconds });
            string shown = await page.InnerTextAsync("#rest-body-out");
            Assert.Contains("\"device\": \"porch\"", shown, StringComparison.Ordinal);
            Assert.Contains("content-type: application/json", await page.InnerTextAsync("#rest-headers-out"), StringComparison.OrdinalIgnoreCase);

            // 4. peerjs 1.5.5 in Chromium through /peerjs: an http-proxy channel straight to the device (PeerFetch v1).
            //    A page of the bridge's origin without the UI's CSP (an API error page) so the bundle can be injected.
            await page.GotoAsync($"http://127.0.0.1:{BridgePort}/api/none");
            await page.AddScriptTagAsync(new() { Path = peerjs });
            string result = await page.EvaluateAsync<string>(PeerJsScript, new { port = BridgePort, token = Token, name });
            output.WriteLine("peerjs: " + result);
            using var doc = JsonDocument.Parse(result);
            Assert.Equal(200, doc.RootElement.GetProperty("status").GetInt32());
            Assert.Contains("\"device\":\"porch\"", doc.RootElement.GetProperty("body").GetString(), StringComparison.Ordinal);
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    private const string PeerJsScript = """
        async (a) => {
          const Peer = window.Peer || (window.peerjs && (window.peerjs.Peer || window.peerjs.default));
          const list = await (await fetch('/api/devices', { headers: { Authorization: 'Bearer ' + a.token } })).json();
          const device = list.find(d => d.name === a.name);
          if (!device || !device.paired) throw new Error('device not paired: ' + JSON.stringify(list));
          const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(what + ' timed out')), ms));
          const peer = new Peer('browser-' + Math.random().toString(36).slice(2), { host: '127.0.0.1', port: a.port, path: '/peerjs/', key: a.token, secure: false, debug: 1 });
          await Promise.race([new Promise((res, rej) => { peer.on('open', res); peer.on('error', rej); }), timeout(20000, 'peer open')]);
          const conn = peer.connect(device.id, { label: 'http-proxy', serialization: 'raw', reliable: true });
          await Promise.race([new Promise((res, rej) => { conn.on('open', res); conn.on('error', rej); peer.on('error', rej); }), timeout(30000, 'data channel open')]);
          const got = [];
          const reply = new Promise((res) => conn.on('data', d => { got.push(d); if (typeof d !== 'string') res(); }));
          conn.send(JSON.stringify({ url: 'http://localhost/status.json', method: 'GET' }));
          await Promise.race([reply, timeout(20000, 'PeerFetch reply (' + got.length + ' messages)')]);
          const head = got.filter(x => typeof x === 'string').map(x => JSON.parse(x)).find(m => m.status !== 202);
          const body = new TextDecoder().decode(got.find(x => typeof x !== 'string'));
          peer.destroy();
          return JSON.stringify({ status: head.status, body });
        }
        """;
}
