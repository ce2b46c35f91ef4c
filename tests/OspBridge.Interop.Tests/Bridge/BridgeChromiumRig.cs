using System.Text.RegularExpressions;
using OspBridge.Interop.Tests.Mdns;
using OspBridge.Interop.Tests.WebRtc;

namespace OspBridge.Interop.Tests.Bridge;

/// <summary>
/// The set-up every Chromium test of the bridge shares: the prerequisites (Chromium and network namespaces, the test
/// camera's ffmpeg when asked), a fresh state root, Chromium (Playwright) on a netns LAN with the test's flags, the
/// device (<c>ospbridge agent --accept-all</c>, optionally behind a python http.server origin) and
/// <c>ospbridge serve</c>, each with its state directory under the root; on failure the screenshots of every page and
/// the bridge's and device's output (<see cref="BridgeFailureLog"/>). Disposing stops the processes (last started
/// first), closes the extra pages, the browser and the LAN, then deletes the root.
/// </summary>
internal sealed partial class BridgeChromiumRig : IAsyncDisposable
{
    /// <summary>Chromium's fake camera and microphone, granted without a prompt, and autoplay.</summary>
    public static readonly string[] MediaFlags = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"];

    private readonly List<NetnsProcess> _processes = [];
    private readonly List<IPage> _extraPages = [];
    private NetnsProcess? _agent;
    private NetnsProcess? _serve;

    private BridgeChromiumRig(ChromiumHarness harness, string root)
    {
        Harness = harness;
        Root = root;
    }

    /// <summary>The browser and the LAN (host 0: the browser's).</summary>
    public ChromiumHarness Harness { get; }

    /// <summary>The test's state root (deleted on dispose).</summary>
    public string Root { get; }

    /// <summary>The harness's page.</summary>
    public IPage Page => Harness.Page;

    /// <summary>
    /// Checks the prerequisites (an <see cref="InvalidOperationException"/> naming <paramref name="what"/> when one
    /// is missing), makes the root and starts Chromium on a LAN of <paramref name="hostCount"/> hosts.
    /// </summary>
    public static async Task<BridgeChromiumRig> StartAsync(string what, int hostCount, string[] chromiumFlags, bool testCamera = false)
    {
        if (ChromiumHarness.WhyUnsupported() is { } why) throw new InvalidOperationException(what + " cannot run: " + why);
        if (testCamera) Assert.True(File.Exists("/usr/bin/ffmpeg"), "/usr/bin/ffmpeg is missing (the test camera): install the Debian package ffmpeg");
        string root = Path.Combine(Path.GetTempPath(), "ospbridge-chromium-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            return new BridgeChromiumRig(await ChromiumHarness.StartAsync(hostCount, chromiumFlags), root);
        }
        catch
        {
            DeleteRoot(root);
            throw;
        }
    }

    /// <summary>The device agent's per-session talk-back line: <c>talk-back from &lt;peer&gt;: &lt;n&gt; packets</c>.</summary>
    [GeneratedRegex(@"^talk-back from (\S+): (\d+) packets")]
    public static partial Regex TalkBackLine();

    /// <summary>A device name unique to this run: <paramref name="prefix"/> and six hex digits.</summary>
    public static string UniqueName(string prefix) => prefix + " " + Guid.NewGuid().ToString("N")[..6];

    /// <summary>
    /// Writes <paramref name="files"/> (name → content) into <c>{root}/www</c> and serves that folder with python's
    /// http.server on 127.0.0.1:<paramref name="port"/> inside <paramref name="host"/>.
    /// </summary>
    public NetnsProcess StartOrigin(NetnsHost host, int port, params (string Name, string Content)[] files)
    {
        string www = Path.Combine(Root, "www");
        Directory.CreateDirectory(www);
        foreach (var (file, content) in files) File.WriteAllText(Path.Combine(www, file), content);
        return Track(host.Start("python3", ["-u", "-m", "http.server", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--directory", www]));
    }

    /// <summary>
    /// <c>ospbridge agent --name … --accept-all --interface eth0 --state-dir {root}/device</c> and
    /// <paramref name="extra"/> in <paramref name="host"/>: the device.
    /// </summary>
    public NetnsProcess StartAgent(NetnsHost host, string name, params string[] extra)
    {
        _agent = Track(OspBridgeCli.Start(host, ["agent", "--name", name, "--accept-all", "--interface", "eth0", "--state-dir", Path.Combine(Root, "device"), .. extra]));
        return _agent;
    }

    /// <summary>
    /// <c>ospbridge serve</c> and <paramref name="extra"/> (before the listed options) <c>--bind … --port …
    /// --interface … --token … --state-dir {root}/bridge</c> in <paramref name="host"/>: the bridge.
    /// </summary>
    public NetnsProcess StartServe(NetnsHost host, string bind, int port, string token, string mdnsInterface = "eth0", params string[] extra)
    {
        _serve = Track(OspBridgeCli.Start(host, ["serve", .. extra, "--bind", bind, "--port", port.ToString(CultureInfo.InvariantCulture),
            "--interface", mdnsInterface, "--token", token, "--state-dir", Path.Combine(Root, "bridge")]));
        return _serve;
    }

    /// <summary>
    /// Subnet B (the relay tests): <paramref name="device"/>'s veth leaves the LAN's switch and becomes
    /// <paramref name="bridge"/>'s second interface <c>ethB</c> (10.213.2.254/24); the device takes 10.213.2.1/24 with
    /// its default and multicast routes via ethB. Asserts that neither the LAN's gateway namespace nor the bridge host
    /// forwards IPv4, so nothing joins the browser's subnet and B but the bridge's relay.
    /// </summary>
    public static async Task MoveDeviceToSubnetBAsync(NetnsHost bridge, NetnsHost device)
    {
        var ipTimeout = TimeSpan.FromSeconds(20);
        async Task Ip(params string[] args) =>
            (await NetnsLan.RunCommandAsync("ip", args, ipTimeout)).EnsureSuccess("ip " + string.Join(' ', args));
        string gateway = bridge.Lan.BridgeNamespace;
        string port = "p" + device.Index.ToString(CultureInfo.InvariantCulture); // NetnsLan's name for the host's switch port
        await Ip("-n", gateway, "link", "set", port, "nomaster");
        await Ip("-n", gateway, "link", "set", port, "netns", bridge.Namespace);
        await Ip("-n", bridge.Namespace, "link", "set", port, "name", "ethB");
        await Ip("-n", bridge.Namespace, "addr", "add", "10.213.2.254/24", "dev", "ethB");
        await Ip("-n", bridge.Namespace, "link", "set", "ethB", "up");
        await Ip("-n", device.Namespace, "addr", "flush", "dev", "eth0", "scope", "global");
        await Ip("-n", device.Namespace, "addr", "add", "10.213.2.1/24", "dev", "eth0");
        await Ip("-n", device.Namespace, "route", "replace", "default", "via", "10.213.2.254", "dev", "eth0");
        await Ip("-n", device.Namespace, "route", "replace", "224.0.0.0/4", "dev", "eth0");
        foreach (string ns in new[] { gateway, bridge.Namespace })
        {
            var fwd = await NetnsLan.RunCommandAsync("ip", ["netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"], ipTimeout);
            Assert.Equal("0", fwd.StandardOutput.Trim());
        }
    }

    /// <summary>A page in a new browser context (its own cookies): screenshotted on failure, closed on dispose.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var page = await Harness.Browser.NewPageAsync();
        _extraPages.Add(page);
        return page;
    }

    /// <summary>
    /// What a failed test writes into its log (<see cref="BridgeFailureLog"/>): screenshots of the harness's page and
    /// every page from <see cref="NewPageAsync"/>, then the bridge's and the device's output.
    /// </summary>
    public Task WriteFailureAsync(ITestOutputHelper output)
    {
        if (_serve is null || _agent is null) throw new InvalidOperationException("the rig has no bridge or no device yet");
        return BridgeFailureLog.WriteAsync(output, _serve, _agent, [Page, .. _extraPages]);
    }

    /// <summary>
    /// In the bridge's UI, on a device's page: "Pair", the PIN the device prints (its stdout), "Paired." shown — each
    /// step within <paramref name="step"/>.
    /// </summary>
    public async Task PairWithPinInUiAsync(IPage page, TimeSpan step)
    {
        var agent = _agent ?? throw new InvalidOperationException("the rig has no device yet");
        var wait = new LocatorWaitForOptions { Timeout = (float)step.TotalMilliseconds };
        await page.ClickAsync("#pair-start");
        string pinLine = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), step);
        await page.Locator("#pin").WaitForAsync(wait);
        await page.FillAsync("#pin", pinLine["PIN: ".Length..].Trim());
        await page.ClickAsync("#pair-form button");
        await page.Locator("#pair-msg", new() { HasText = "Paired." }).WaitForAsync(wait);
    }

    /// <summary>
    /// Through the bridge's API from <paramref name="page"/> (a page of the bridge's origin): finds the online device
    /// named <paramref name="name"/> (up to 60 s), starts pairing (202) and sends the PIN the device prints (200).
    /// Returns the device's id.
    /// </summary>
    public async Task<string> PairByApiAsync(IPage page, string token, string name, TimeSpan step)
    {
        var agent = _agent ?? throw new InvalidOperationException("the rig has no device yet");
        string id = await page.EvaluateAsync<string>(FindDeviceScript, new { token, name });
        Assert.Equal(202, await page.EvaluateAsync<int>(PairScript, new { token, id, body = "{}" }));
        string pinLine = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), step);
        Assert.Equal(200, await page.EvaluateAsync<int>(PairScript, new { token, id, body = $"{{\"pin\":\"{pinLine["PIN: ".Length..].Trim()}\"}}" }));
        return id;
    }

    /// <summary>
    /// The UI's live camera (<c>#camera</c>, shown within <paramref name="step"/>): polls its framesDecoded every
    /// 500 ms, at most <paramref name="polls"/> times, until ≥ 100; logs and asserts that, and returns the stats line.
    /// </summary>
    public static async Task<string> AssertCameraPlaysAsync(IPage page, ITestOutputHelper output, TimeSpan step, int polls)
    {
        await page.Locator("#camera").WaitForAsync(new() { Timeout = (float)step.TotalMilliseconds });
        int frames = 0;
        for (int i = 0; i < polls && frames < 100; i++)
        {
            frames = await page.EvaluateAsync<int>("() => Number(document.getElementById('camera-stats').dataset.framesDecoded || 0)");
            if (frames < 100) await Task.Delay(500);
        }
        string stats = await page.InnerTextAsync("#camera-stats");
        output.WriteLine($"camera: {stats}; message: {await page.InnerTextAsync("#camera-msg")}");
        Assert.True(frames >= 100, $"framesDecoded {frames} < 100 (stats: '{stats}', message: '{await page.InnerTextAsync("#camera-msg")}')");
        return stats;
    }

    private const string FindDeviceScript = """
        async (a) => {
          for (let i = 0; i < 240; i++) {
            const list = await (await fetch('/api/devices', { headers: { Authorization: 'Bearer ' + a.token } })).json();
            const d = list.find(x => x.name === a.name && x.online);
            if (d) return d.id;
            await new Promise(r => setTimeout(r, 250));
          }
          throw new Error('device not discovered');
        }
        """;

    private const string PairScript = """
        async (a) => (await fetch('/api/devices/' + a.id + '/pair', { method: 'POST', headers: { Authorization: 'Bearer ' + a.token, 'Content-Type': 'application/json' }, body: a.body })).status
        """;

    private NetnsProcess Track(NetnsProcess process)
    {
        _processes.Add(process);
        return process;
    }

    private static void DeleteRoot(string root)
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        for (int i = _processes.Count - 1; i >= 0; i--) await _processes[i].DisposeAsync();
        foreach (var page in _extraPages)
        {
            try { await page.Context.CloseAsync(); } catch (PlaywrightException) { }
        }
        await Harness.DisposeAsync();
        DeleteRoot(Root);
    }
}
