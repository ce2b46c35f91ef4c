using System.Text.RegularExpressions;
using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13 must-show 1, three namespaces on one LAN: Chromium (Playwright, fake camera + microphone, a phone's
/// 390×844 viewport) in the first, <c>ospbridge serve</c> in the second, the device — <c>ospbridge agent --camera test
/// --http-origin</c> in front of a python http.server — in the third. The browser opens the bridge's UI by its admin
/// URL, sees the device, pairs with the PIN read from the device's stdout, watches the camera in the page (WHEP:
/// framesDecoded ≥ 100, media straight from the device), calls the REST API through the explorer, holds "talk"
/// (WHIP, the fake microphone) and the device reports the talk-back audio it received. Screenshots (base64 PNG) go into
/// the test log on failure.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed partial class MustShowOneTests(ITestOutputHelper output)
{
    private const string Token = "must-show-one-admin-token-0123";
    private const int BridgePort = 18080;
    private const int OriginPort = 8000;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Browser_pairs_watches_calls_rest_and_talks_to_a_device_through_the_bridge()
    {
        // The bridge's address (host 1) is not loopback: Chromium treats its origin as secure only when told to
        // (over the LAN one serves the bridge with HTTPS; getUserMedia needs a secure context).
        string bridgeOrigin = $"http://10.213.0.2:{BridgePort}";
        await using var rig = await BridgeChromiumRig.StartAsync("must-show 1", 3, [.. BridgeChromiumRig.MediaFlags, "--unsafely-treat-insecure-origin-as-secure=" + bridgeOrigin]);
        var bridgeHost = rig.Harness.Host(1);
        var deviceHost = rig.Harness.Host(2);
        Assert.Equal("10.213.0.2", bridgeHost.IPv4.ToString());
        string name = BridgeChromiumRig.UniqueName("Doorbell");
        var origin = rig.StartOrigin(deviceHost, OriginPort, ("status.json", "{\"ok\":true,\"device\":\"doorbell\",\"battery\":87}"));
        var agent = rig.StartAgent(deviceHost, name, "--camera", "test", "--http-origin", $"http://127.0.0.1:{OriginPort}");
        var serve = rig.StartServe(bridgeHost, bridgeHost.IPv4.ToString(), BridgePort, Token);
        var page = rig.Page;
        await page.SetViewportSizeAsync(390, 844);
        var wait = new LocatorWaitForOptions { Timeout = (float)Step.TotalMilliseconds };
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            string admin = await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), Step);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), Step);
            Assert.StartsWith($"admin {bridgeOrigin}/#token=", admin, StringComparison.Ordinal);

            // 1. The UI by its admin URL: logs in, lists the device live (mDNS between namespaces 2 and 1).
            await page.GotoAsync(admin["admin ".Length..]);
            var item = page.Locator("#devices li", new() { HasText = name });
            await item.WaitForAsync(wait);
            Assert.Contains("not paired", await item.InnerTextAsync(), StringComparison.Ordinal);
            await AssertFitsPhoneAsync(page, "device list");
            await item.Locator("a.device-name").ClickAsync();

            // 2. Pair with the PIN the device prints.
            await rig.PairWithPinInUiAsync(page, Step);
            string paired = await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step);
            string bridgePeerId = paired.Split(' ')[^2];

            // 3. The live camera starts by itself once paired (WHEP in the page): ≥ 100 frames decoded, stats line shown.
            string stats = await BridgeChromiumRig.AssertCameraPlaysAsync(page, output, Step, polls: 120);
            Assert.Matches(@"^\d+×\d+ · \d+ fps · \d+ frames decoded$", stats);
            await agent.WaitForLineAsync(l => l.StartsWith("viewer " + bridgePeerId + " started", StringComparison.Ordinal), Step);
            await AssertFitsPhoneAsync(page, "device page with the camera");

            // 4. The REST explorer: GET /status.json through the gateway (PeerFetch over LP2P), pretty JSON shown.
            await page.FillAsync("#rest-path", "/status.json");
            await page.ClickAsync("#rest-send");
            await page.Locator("#rest-status", new() { HasText = "200" }).WaitForAsync(wait);
            Assert.Contains("\"battery\": 87", await page.InnerTextAsync("#rest-body-out"), StringComparison.Ordinal);
            Assert.Contains("content-type: application/json", await page.InnerTextAsync("#rest-headers-out"), StringComparison.OrdinalIgnoreCase);

            // 5. Talk: hold the button (the fake microphone goes to the device over WHIP), release, hang up.
            var talk = page.Locator("#talk-button");
            await talk.ScrollIntoViewIfNeededAsync();
            await talk.HoverAsync();
            await page.Mouse.DownAsync();
            await page.Locator("#talk-msg", new() { HasTextRegex = new Regex("^Talking") }).WaitForAsync(wait);
            int sent = 0;
            for (int i = 0; i < 40 && sent < 150; i++)
            {
                await Task.Delay(250);
                sent = await page.EvaluateAsync<int>("() => Number(document.getElementById('talk-msg').dataset.packetsSent || 0)");
            }
            await page.Mouse.UpAsync();
            output.WriteLine($"talk: {sent} audio packets sent; {await page.InnerTextAsync("#talk-msg")}");
            Assert.True(sent >= 100, $"the page sent only {sent} talk-back audio packets");
            await page.ClickAsync("#talk-hangup");
            string talkLine = await agent.WaitForLineAsync(l => BridgeChromiumRig.TalkBackLine().IsMatch(l), Step);
            output.WriteLine("device: " + talkLine);
            var m = BridgeChromiumRig.TalkBackLine().Match(talkLine);
            Assert.Equal(bridgePeerId, m.Groups[1].Value);
            Assert.True(long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) >= 50, "the device received too little talk-back audio: " + talkLine);
        }
        catch
        {
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    /// <summary>Nothing wider than the 390-pixel phone viewport (no horizontal scrolling).</summary>
    private static async Task AssertFitsPhoneAsync(IPage page, string what)
    {
        int scroll = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        int width = await page.EvaluateAsync<int>("() => window.innerWidth");
        Assert.True(scroll <= width, $"{what}: the page is {scroll} px wide in a {width} px viewport");
    }
}
