using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Demo;

/// <summary>Settings of the doorbell demo.</summary>
internal sealed class DoorbellDemoOptions
{
    /// <summary>Interface for mDNS and the device's WebRTC candidates (default lo: nothing leaves the machine).</summary>
    public string Interface { get; init; } = "lo";

    /// <summary>The bridge's TCP port on 127.0.0.1 (0: any free port).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Run Chromium headless through the story and exit with its verdict.</summary>
    public bool Headless { get; init; }

    /// <summary>Chromium's path (null: look in the usual places).</summary>
    public string? Browser { get; init; }

    /// <summary>Bound of the headless story.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>Frames the browser must decode.</summary>
    public int Frames { get; init; } = 100;

    /// <summary>Seconds of talk-back.</summary>
    public int TalkSeconds { get; init; } = 3;
}

/// <summary>
/// <c>ospbridge demo</c>: the doorbell story on one machine with no setup. A doorbell — a separate
/// <c>ospbridge agent</c> process with the test camera and a small REST API (<see cref="DoorbellOrigin"/>) — and a
/// bridge (<c>serve</c>, in this process, on 127.0.0.1) find each other with mDNS on <c>lo</c>; a browser pairs the
/// bridge with the doorbell by the PIN the doorbell prints, watches its camera (WHEP), calls its REST API through the
/// bridge's gateway (PeerFetch over the LP2P session) and talks back (WHIP, microphone). Without
/// <c>--headless</c> the demo prints the URL to open and runs until Ctrl-C; with it, it starts Chromium (fake
/// camera/microphone) on the story page <c>/demo/</c>, prints what the page reports, and exits 0 only when the
/// browser decoded the frames, got the REST answer and the doorbell counted talk-back audio.
/// </summary>
internal static class DoorbellDemo
{
    private const string DeviceName = "Front Door";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(DoorbellDemoOptions options, ILoggerFactory loggers, CancellationToken ct)
    {
        var log = loggers.CreateLogger("demo");
        string? browser = null;
        if (options.Headless)
            browser = HeadlessChromium.Find(options.Browser) ?? throw new CliException("demo --headless needs Chromium: install it (apt-get install chromium) or pass --browser <path>");
        var root = Directory.CreateTempSubdirectory("ospbridge-demo-");
        try
        {
            DemoOutput.Step("1. the doorbell's local REST API (127.0.0.1 only)");
            await using var origin = await DoorbellOrigin.StartAsync(DeviceName, ct).ConfigureAwait(false);
            DemoOutput.Info($"{origin.Url}: GET /api/status, POST /api/ring, GET /api/snapshot.svg");

            DemoOutput.Step($"2. the doorbell: `ospbridge agent --camera test --http-origin {origin.Url}` (a separate process), advertising on {options.Interface}");
            var (self, prefix) = DemoProcess.Self();
            await using var device = DemoProcess.Start(self, [.. prefix, "agent", "--name", DeviceName, "--camera", "test", "--http-origin", origin.Url,
                "--interface", options.Interface, "--accept-all", "--state-dir", Path.Combine(root.FullName, "device")], "   doorbell | ");
            string agentLine = await device.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), StepTimeout, "the doorbell's agent line", ct).ConfigureAwait(false);
            string deviceId = Field(agentLine, "id") ?? throw new CliException("the doorbell's agent line has no id=: " + agentLine);

            DemoOutput.Step($"3. the bridge (`ospbridge serve`, in this process) on 127.0.0.1, discovering devices on {options.Interface}");
            string bridgeState = Path.Combine(root.FullName, "bridge");
            using var identity = AgentIdentity.LoadOrCreate(bridgeState, OspInstanceName.FromDisplayName("OspBridge demo"));
            var trust = PeerTrust.Open(bridgeState);
            var tokens = BridgeTokens.Open(bridgeState, null);
            await using var devices = new DeviceRegistry(identity, trust, [options.Interface], loggers);
            await devices.StartAsync(ct).ConfigureAwait(false);
            var session = new DemoSession(deviceId, DeviceName, options.Frames, options.TalkSeconds);
            device.LineReceived += line =>
            {
                if (line.StartsWith("PIN: ", StringComparison.Ordinal)) session.Pin = line["PIN: ".Length..].Trim();
            };
            var server = await StartServerAsync(options, session, devices, tokens, loggers, ct).ConfigureAwait(false);
            await using (server.ConfigureAwait(false))
            {
                DemoOutput.Info($"listening on {server.Url}");
                var view = await WaitForDeviceAsync(devices, deviceId, ct).ConfigureAwait(false);
                DemoOutput.Info($"found \"{TerminalText.Sanitize(view.Name)}\" id {view.Id} (online, not paired yet)");

                if (!options.Headless)
                {
                    DemoOutput.Step("4. open the bridge's web UI in a browser on this machine");
                    DemoOutput.Info(server.AdminUrl);
                    DemoOutput.Info($"pick \"{DeviceName}\", press Pair and type the PIN the doorbell prints below (\"doorbell | PIN: …\");");
                    DemoOutput.Info("then watch its camera, hold \"Hold to talk\", and try GET /api/status or /api/snapshot.svg in the REST explorer.");
                    DemoOutput.Info("Ctrl-C stops the demo.");
                    try { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
                    return 0;
                }

                DemoOutput.Step("4. headless Chromium (fake camera + microphone) runs the story in the bridge's page /demo/");
                return await RunHeadlessAsync(options, browser!, root.FullName, $"{server.Url}/demo/index.html#token={tokens.AdminToken}", session, device, log, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            try { root.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task<BridgeServer> StartServerAsync(DoorbellDemoOptions options, DemoSession session, DeviceRegistry devices, BridgeTokens tokens, ILoggerFactory loggers, CancellationToken ct)
    {
        try
        {
            return await BridgeServer.StartAsync(new BridgeServerOptions { Bind = IPAddress.Loopback, Port = options.Port, MapExtra = session.Map }, devices, tokens, loggers, ct).ConfigureAwait(false);
        }
        catch (IOException) when (options.Port != 0)
        {
            DemoOutput.Info($"port {options.Port} is taken: using a free one");
            return await BridgeServer.StartAsync(new BridgeServerOptions { Bind = IPAddress.Loopback, Port = 0, MapExtra = session.Map }, devices, tokens, loggers, ct).ConfigureAwait(false);
        }
    }

    private static async Task<DeviceView> WaitForDeviceAsync(DeviceRegistry devices, string id, CancellationToken ct)
    {
        var found = new TaskCompletionSource<DeviceView>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(DeviceView v)
        {
            if (v.Id == id && v.Online) found.TrySetResult(v);
        }
        devices.Changed += OnChanged;
        try
        {
            if (devices.Find(id) is { Online: true } now) return now;
            try
            {
                return await found.Task.WaitAsync(StepTimeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new CliException($"the bridge did not discover the doorbell within {StepTimeout.TotalSeconds:0} s (mDNS)");
            }
        }
        finally
        {
            devices.Changed -= OnChanged;
        }
    }

    private static async Task<int> RunHeadlessAsync(DoorbellDemoOptions options, string browser, string root, string url, DemoSession session, DemoProcess device, ILogger log, CancellationToken ct)
    {
        await using var chromium = DemoProcess.Start(browser, HeadlessChromium.Arguments(Path.Combine(root, "chromium"), url), echoPrefix: null);
        var results = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        bool done = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Timeout);
        try
        {
            while (!done && await session.Reports.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
            {
                while (session.Reports.TryRead(out var report))
                {
                    string step = report.GetProperty("step").GetString()!;
                    bool ok = report.TryGetProperty("ok", out var okElement) && okElement.ValueKind == JsonValueKind.True;
                    string text = report.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
                    DemoOutput.Info($"browser | {(ok ? "ok  " : "FAIL")} {step}: {TerminalText.Sanitize(text)}");
                    if (step == "done") done = true;
                    else results[step] = report;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            DemoOutput.Info($"browser | FAIL the story did not finish within {options.Timeout.TotalSeconds:0} s");
            if (chromium.HasExited) DemoOutput.Info("browser | Chromium exited: " + TerminalText.Sanitize(CliErrors.OneLine(Tail(chromium.StandardError))));
        }
        await chromium.StopAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);

        // The doorbell prints one line per talk-back session when it ends (the page hung up before reporting done).
        string? talkLine = null;
        if (results.TryGetValue("talk", out var talkReport) && talkReport.TryGetProperty("ok", out var talkOk) && talkOk.ValueKind == JsonValueKind.True)
        {
            try
            {
                talkLine = await device.WaitForLineAsync(l => l.StartsWith("talk-back from ", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the doorbell's talk-back line", ct).ConfigureAwait(false);
            }
            catch (CliException ex)
            {
                log.LogWarning("{Error}", ex.Message);
            }
        }
        long talkPackets = talkLine is null ? 0 : TalkPackets(talkLine);

        DemoOutput.Step("5. what it saw");
        bool paired = Ok(results, "pair");
        bool video = Ok(results, "video");
        bool rest = Ok(results, "rest");
        bool talk = talkPackets > 0;
        DemoOutput.Info($"pairing with the PIN:      {(paired ? "yes" : "NO")}");
        DemoOutput.Info($"camera (WHEP):             {(video ? Text(results, "video") : "NO " + Text(results, "video"))}");
        DemoOutput.Info($"REST API (gateway):        {(rest ? Text(results, "rest") : "NO " + Text(results, "rest"))}");
        DemoOutput.Info($"talk-back (WHIP → device): {(talk ? TerminalText.Sanitize(talkLine!) : "NO " + (talkLine ?? Text(results, "talk")))}");
        bool all = paired && video && rest && talk;
        DemoOutput.Info(all ? "all of it worked — no cloud, no signaling server, no CA" : "the story did not complete");
        return all ? 0 : 1;
    }

    private static bool Ok(Dictionary<string, JsonElement> results, string step) =>
        results.TryGetValue(step, out var r) && r.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True;

    private static string Text(Dictionary<string, JsonElement> results, string step) =>
        results.TryGetValue(step, out var r) && r.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
            ? TerminalText.Sanitize(t.GetString()!)
            : "(no report)";

    /// <summary>The <c>&lt;n&gt;</c> of "talk-back from &lt;peer&gt;: &lt;n&gt; packets, …".</summary>
    internal static long TalkPackets(string line)
    {
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) return 0;
        var rest = line.AsSpan(colon + 2);
        int space = rest.IndexOf(' ');
        return space > 0 && long.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : 0;
    }

    /// <summary>The value of <c>key=value</c> in a space-separated line.</summary>
    internal static string? Field(string line, string key) =>
        line.Split(' ').FirstOrDefault(p => p.StartsWith(key + "=", StringComparison.Ordinal))?[(key.Length + 1)..];

    private static string Tail(string text) => text.Length <= 400 ? text : text[^400..];
}
