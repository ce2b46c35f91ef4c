using System.Text.RegularExpressions;
using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// Issue 13, the web UI over HTTPS from another machine, three namespaces on one LAN (browser, bridge, device):
/// <c>ospbridge serve --https</c> on the LAN address; Chromium trusts the bridge's certificate the way docs/bridge.md
/// tells a user to — <c>--ignore-certificate-errors-spki-list=&lt;spki&gt;</c> with the <c>spki</c> value <c>serve</c>
/// printed (no <c>--unsafely-treat-insecure-origin-as-secure</c>, Playwright's HTTPS errors not ignored), in a phone's
/// 390×844 viewport. The page is a secure context; it pairs with the device's PIN, plays the camera (framesDecoded ≥
/// 100), restarts ICE twice — once with its Reconnect button, once by itself after the media path between browser and
/// device is cut (blackhole routes both ways) and restored — with frames growing again on the same WHEP session; talks
/// (getUserMedia, a secure-context feature) and the device receives the audio; lists the device's app grants and
/// revokes one; and revokes another browser's token from the "Browsers with access" list, after which that browser
/// gets 401.
/// </summary>
[Collection("Chromium WebRTC")]
public sealed partial class UiHttpsChromiumTests(ITestOutputHelper output)
{
    private const string Token = "ui-https-admin-token-0123456789";
    private const int BridgePort = 18443;
    private const int OriginPort = 8000;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"^certificate sha256 ([0-9A-F:]+) spki (\S+)$")]
    private static partial Regex CertificateLine();

    [Fact]
    public async Task Https_ui_in_chromium_pairs_plays_restarts_ice_talks_and_revokes()
    {
        await using var rig = await BridgeChromiumRig.StartAsync("UI over HTTPS", 3, BridgeChromiumRig.MediaFlags, testCamera: true);
        var browserHost = rig.Harness.Host(0);
        var bridgeHost = rig.Harness.Host(1);
        var deviceHost = rig.Harness.Host(2);
        string name = BridgeChromiumRig.UniqueName("Doorbell");
        var origin = rig.StartOrigin(deviceHost, OriginPort, ("status.json", "{\"ok\":true,\"device\":\"doorbell\",\"battery\":87}"));
        var agent = rig.StartAgent(deviceHost, name, "--camera", "test", "--http-origin", $"http://127.0.0.1:{OriginPort}");
        var serve = rig.StartServe(bridgeHost, bridgeHost.IPv4.ToString(), BridgePort, Token, "eth0", "--https");
        string bridgeOrigin = $"https://{bridgeHost.IPv4}:{BridgePort}";
        IPage page = rig.Page;
        var pageConsole = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var wait = new LocatorWaitForOptions { Timeout = (float)Step.TotalMilliseconds };
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step);
            Assert.Equal("listening on " + bridgeOrigin, await serve.WaitForLineAsync(l => l.StartsWith("listening on ", StringComparison.Ordinal), Step));
            var cert = CertificateLine().Match(await serve.WaitForLineAsync(l => l.StartsWith("certificate ", StringComparison.Ordinal), Step));
            Assert.True(cert.Success, "serve --https must print 'certificate sha256 … spki …'");
            string spki = cert.Groups[2].Value;
            string admin = await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), Step);
            Assert.StartsWith($"admin {bridgeOrigin}/#token=", admin, StringComparison.Ordinal);
            await origin.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), Step);

            // 0. Without trusting the certificate the browser refuses the page (so the flag below is what makes it work).
            var refused = await Assert.ThrowsAsync<PlaywrightException>(() => page.GotoAsync(bridgeOrigin + "/"));
            output.WriteLine("untrusted: " + refused.Message.Split('\n')[0]);
            Assert.Contains("ERR_CERT", refused.Message, StringComparison.Ordinal);

            // 1. The user's step from docs/bridge.md: start Chromium trusting the printed SPKI. Phone viewport.
            await rig.Harness.RelaunchAsync([.. BridgeChromiumRig.MediaFlags, "--ignore-certificate-errors-spki-list=" + spki]);
            page = rig.Page;
            await page.SetViewportSizeAsync(390, 844);
            page.Dialog += (_, d) => _ = d.AcceptAsync(); // the revoke buttons confirm()
            page.Console += (_, msg) => pageConsole.Enqueue($"{TimeProvider.System.GetUtcNow():HH:mm:ss.fff} {msg.Text}");
            await page.GotoAsync(admin["admin ".Length..]);
            Assert.True(await page.EvaluateAsync<bool>("() => window.isSecureContext && location.protocol === 'https:'"), "the UI over https must be a secure context");
            Assert.True(await page.EvaluateAsync<bool>("() => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && crypto.subtle)"),
                "getUserMedia and crypto.subtle must exist in the secure context");
            // The page logs in with the admin URL's token (POST /api/login → session cookie) after it loads; until then
            // /api/bridge is 401. Ask as the page does once it is logged in (bounded: 100 tries, 100 ms apart).
            string? fp = await page.EvaluateAsync<string?>(@"async () => {
                for (let i = 0; i < 100; i++) {
                    const r = await fetch('/api/bridge');
                    if (r.ok) return (await r.json()).fp;
                    await new Promise(done => setTimeout(done, 100));
                }
                return null;
            }");
            Assert.Equal(spki, fp); // the SPKI hash printed is the bridge's agent fingerprint (docs/bridge.md)
            var item = page.Locator("#devices li", new() { HasText = name });
            await item.WaitForAsync(wait);
            await AssertFitsPhoneAsync(page, "device list");
            await item.Locator("a.device-name").ClickAsync();

            // 2. Pair with the PIN the device prints.
            await rig.PairWithPinInUiAsync(page, Step);
            string paired = await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step);
            string bridgePeerId = paired.Split(' ')[^2];

            // 3. The camera over the https page: ≥ 100 frames; the phone layout shows every control without overflow.
            await page.Locator("#camera").WaitForAsync(wait);
            int frames = await FramesAtLeastAsync(page, 100, "first play");
            foreach (string control in new[] { "#camera-toggle", "#camera-reconnect", "#talk-button", "#rest-send", "#rest-path", "#unpair" })
                await AssertVisibleInPhoneAsync(page, control);
            await AssertFitsPhoneAsync(page, "device page with the camera");

            // 4. ICE restart from the page's Reconnect button: PATCH (If-Match, sdpfrag) → 200, same session, frames go on.
            await page.ClickAsync("#camera-reconnect");
            await WaitForDatasetAsync(page, "iceRestarts", v => v >= 1, Step, "the Reconnect button's ICE restart");
            frames = await FramesAtLeastAsync(page, await Frames(page) + 60, "after the Reconnect ICE restart");
            Assert.Equal(1, await Dataset(page, "sessions"));

            // 5. The path breaks (browser ↔ device unreachable both ways; the bridge's LP2P session to the device and the
            //    page's HTTPS to the bridge stay up): the page notices (disconnected/failed) and restarts ICE by itself;
            //    the path comes back and the same session carries video again.
            await CutAsync(browserHost, deviceHost, "add");
            bool routed = false;
            try
            {
                await WaitForDatasetAsync(page, "iceRestarts", v => v >= 2, TimeSpan.FromSeconds(90), "an ICE restart after the path broke");
                int stalled = await Frames(page);
                output.WriteLine($"path cut: ICE restarted by the page at {stalled} frames; message: {await page.InnerTextAsync("#camera-msg")}");
            }
            finally
            {
                await CutAsync(browserHost, deviceHost, "del");
                routed = true;
            }
            Assert.True(routed);
            frames = await FramesAtLeastAsync(page, await Frames(page) + 60, "after the path came back");
            Assert.Equal(1, await Dataset(page, "sessions")); // the restart, not a new WHEP session, brought it back
            Assert.Equal("connected", await page.EvaluateAsync<string>("() => document.getElementById('camera-stats').dataset.connection"));
            output.WriteLine($"after two ICE restarts: {await page.InnerTextAsync("#camera-stats")}");
            output.WriteLine("page console: " + string.Join(" | ", pageConsole));

            // 6. Talk (getUserMedia: secure context only): hold, the device receives the audio.
            var talk = page.Locator("#talk-button");
            await talk.ScrollIntoViewIfNeededAsync();
            await talk.HoverAsync();
            await page.Mouse.DownAsync();
            await page.Locator("#talk-msg", new() { HasTextRegex = new Regex("^Talking") }).WaitForAsync(wait);
            int sent = 0;
            for (int i = 0; i < 60 && sent < 150; i++)
            {
                await Task.Delay(250);
                sent = await page.EvaluateAsync<int>("() => Number(document.getElementById('talk-msg').dataset.packetsSent || 0)");
            }
            await page.Mouse.UpAsync();
            Assert.True(sent >= 100, $"the page sent only {sent} talk-back audio packets ({await page.InnerTextAsync("#talk-msg")})");
            await page.ClickAsync("#talk-hangup");
            var m = BridgeChromiumRig.TalkBackLine().Match(await agent.WaitForLineAsync(l => BridgeChromiumRig.TalkBackLine().IsMatch(l), Step));
            Assert.Equal(bridgePeerId, m.Groups[1].Value);
            Assert.True(long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) >= 50, "the device received too little talk-back audio: " + m.Value);

            // 7. REST explorer over https.
            await page.FillAsync("#rest-path", "/status.json");
            await page.ClickAsync("#rest-send");
            await page.Locator("#rest-status", new() { HasText = "200" }).WaitForAsync(wait);
            Assert.Contains("\"battery\": 87", await page.InnerTextAsync("#rest-body-out"), StringComparison.Ordinal);

            // 8. Grants: the paired device is listed with the app grants the bridge's trust store holds (the bridge's own
            //    LP2P app, "ospbridge", recorded when it connected); revoking one from the UI removes it, the pairing stays.
            await page.ClickAsync("#back");
            var peer = page.Locator("#peers li[data-id]", new() { HasText = name });
            await peer.WaitForAsync(wait);
            var grant = peer.Locator(".grants li[data-app='ospbridge']");
            await grant.WaitForAsync(wait);
            await AssertFitsPhoneAsync(page, "device list with grants and tokens");
            await grant.Locator("button.revoke-grant").ClickAsync();
            await grant.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = (float)Step.TotalMilliseconds });
            string grants = await page.EvaluateAsync<string>("async () => JSON.stringify(await (await fetch('/api/grants')).json())");
            using (var doc = JsonDocument.Parse(grants))
            {
                var d = Assert.Single(doc.RootElement.EnumerateArray(), e => e.GetProperty("name").GetString() == name);
                Assert.DoesNotContain(d.GetProperty("grants").EnumerateArray(), g => g.GetProperty("app").GetString() == "ospbridge");
            }
            Assert.Contains("paired", await page.Locator("#devices li", new() { HasText = name }).InnerTextAsync(), StringComparison.Ordinal);
            //    Revoking the bridge's own grant withholds the device from the bridge (403 until allowed again; session 8):
            //    the UI offers "Allow", which grants it again without a PIN (the REST explorer's path answers again).
            string deviceId = await peer.GetAttributeAsync("data-id") ?? "";
            int withheld = await page.EvaluateAsync<int>("async (id) => (await fetch('/devices/' + id + '/http/status.json', { cache: 'no-store' })).status", deviceId);
            Assert.Equal(403, withheld);
            await peer.Locator(".grants li.withheld button.allow-bridge").ClickAsync();
            await grant.WaitForAsync(wait);
            int allowed = await page.EvaluateAsync<int>("async (id) => (await fetch('/devices/' + id + '/http/status.json', { cache: 'no-store' })).status", deviceId);
            Assert.Equal(200, allowed);

            // 9. Another browser logs in (its own token); this one revokes it from "Browsers with access"; it gets 401.
            var other = await rig.NewPageAsync();
            await other.GotoAsync(admin["admin ".Length..]);
            await other.Locator("#devices li", new() { HasText = name }).WaitForAsync(wait);
            string otherId = await other.EvaluateAsync<string>("async () => (await (await fetch('/api/tokens/self')).json()).id");
            Assert.False(string.IsNullOrEmpty(otherId), "the second browser must hold a browser token");
            await page.ReloadAsync();
            var otherItem = page.Locator($"#tokens li[data-id='{otherId}']");
            await otherItem.WaitForAsync(wait);
            Assert.DoesNotContain("this browser", await otherItem.InnerTextAsync(), StringComparison.Ordinal);
            Assert.Contains("this browser", await page.InnerTextAsync("#tokens"), StringComparison.Ordinal);
            await otherItem.Locator("button.revoke-token").ClickAsync();
            await otherItem.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = (float)Step.TotalMilliseconds });
            // The revoked browser's event stream says "revoked" and its page reloads itself to the login form (app.js listen());
            // evaluate only after that navigation, or the reload destroys the script's context mid-call (CI stop 25).
            await other.Locator("#login").WaitForAsync(wait);
            int status = await other.EvaluateAsync<int>("async () => (await fetch('/api/devices')).status");
            Assert.Equal(401, status);
            await other.ReloadAsync();
            await other.Locator("#login").WaitForAsync(wait);
            Assert.Equal(200, await page.EvaluateAsync<int>("async () => (await fetch('/api/devices')).status")); // this browser still in
        }
        catch
        {
            output.WriteLine("page console: " + string.Join(" | ", pageConsole));
            await rig.WriteFailureAsync(output);
            throw;
        }
    }

    /// <summary>Blackhole routes between the two hosts, both ways, IPv4 and IPv6 (<paramref name="verb"/> add / del).</summary>
    private static async Task CutAsync(NetnsHost a, NetnsHost b, string verb)
    {
        foreach (var (host, to) in new[] { (a, b), (b, a) })
        {
            foreach (string[] args in new[] { new[] { "route", verb, "blackhole", to.IPv4 + "/32" }, new[] { "-6", "route", verb, "blackhole", to.IPv6 + "/128" } })
            {
                var r = await host.RunAsync("ip", args, TimeSpan.FromSeconds(20));
                Assert.True(r.ExitCode == 0, $"ip {string.Join(' ', args)} in {host.Namespace}: exit {r.ExitCode} {r.StandardError}");
            }
        }
    }

    private static Task<int> Frames(IPage page) => Dataset(page, "framesDecoded");

    private static Task<int> Dataset(IPage page, string key) =>
        page.EvaluateAsync<int>($"() => Number(document.getElementById('camera-stats').dataset.{key} || 0)");

    private async Task<int> FramesAtLeastAsync(IPage page, int wanted, string when)
    {
        int frames = 0;
        for (int i = 0; i < 240 && frames < wanted; i++)
        {
            frames = await Frames(page);
            if (frames < wanted) await Task.Delay(500);
        }
        string stats = await page.InnerTextAsync("#camera-stats");
        output.WriteLine($"camera {when}: {stats}");
        Assert.True(frames >= wanted, $"{when}: framesDecoded {frames} < {wanted} (stats '{stats}', message '{await page.InnerTextAsync("#camera-msg")}')");
        return frames;
    }

    private static async Task WaitForDatasetAsync(IPage page, string key, Func<int, bool> done, TimeSpan timeout, string what)
    {
        int value = 0;
        for (int i = 0; i < (int)(timeout.TotalMilliseconds / 500) && !done(value); i++)
        {
            value = await Dataset(page, key);
            if (!done(value)) await Task.Delay(500);
        }
        Assert.True(done(value), $"{what}: data-{key} is {value} (message '{await page.InnerTextAsync("#camera-msg")}', stats '{await page.InnerTextAsync("#camera-stats")}')");
    }

    private static async Task AssertVisibleInPhoneAsync(IPage page, string selector)
    {
        var control = page.Locator(selector);
        await control.ScrollIntoViewIfNeededAsync();
        Assert.True(await control.IsVisibleAsync(), selector + " must be visible on the phone screen");
        var box = await control.BoundingBoxAsync();
        Assert.True(box is not null && box.X >= 0 && box.X + box.Width <= 390 + 0.5 && box.Width >= 40 && box.Height >= 30,
            $"{selector} must lie inside the 390 px viewport and be big enough to tap: {box?.X},{box?.Y} {box?.Width}×{box?.Height}");
    }

    /// <summary>Nothing wider than the 390-pixel phone viewport (no horizontal scrolling).</summary>
    private static async Task AssertFitsPhoneAsync(IPage page, string what)
    {
        int scroll = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        int width = await page.EvaluateAsync<int>("() => window.innerWidth");
        Assert.True(scroll <= width, $"{what}: the page is {scroll} px wide in a {width} px viewport");
    }
}
