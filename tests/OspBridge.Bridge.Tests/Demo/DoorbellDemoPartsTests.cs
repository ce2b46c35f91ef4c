using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Demo;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Tests.Demo;

/// <summary>
/// The pieces of <c>ospbridge demo</c> (the doorbell story) on loopback, in process: the doorbell's REST origin, the
/// demo-only <c>/api/demo</c> endpoints behind the bridge's token, the web UI files the story uses (WHEP/WHIP module,
/// the story page), and the parsing of the agent's lines. The whole story with Chromium runs in the Interop tier
/// (DemoHeadlessTests).
/// </summary>
public sealed class DoorbellDemoPartsTests : IDisposable
{
    private const string Token = "demo-parts-token-0123456789";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ospbridge-demo-parts-" + Guid.NewGuid().ToString("N"));

    public DoorbellDemoPartsTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Doorbell_origin_answers_status_ring_and_snapshot()
    {
        await using var origin = await DoorbellOrigin.StartAsync("Front Door", CancellationToken.None);
        Assert.StartsWith("http://127.0.0.1:", origin.Url, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = new Uri(origin.Url) };
        var status = await http.GetAsync("/api/status");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.Equal("application/json", status.Content.Headers.ContentType?.MediaType);
        using (var doc = JsonDocument.Parse(await status.Content.ReadAsStringAsync()))
        {
            Assert.Equal("Front Door", doc.RootElement.GetProperty("device").GetString());
            Assert.Equal(0, doc.RootElement.GetProperty("rings").GetInt32());
        }
        var ring = await http.PostAsync("/api/ring", null);
        Assert.Equal(HttpStatusCode.OK, ring.StatusCode);
        using (var doc = JsonDocument.Parse(await ring.Content.ReadAsStringAsync()))
            Assert.Equal(1, doc.RootElement.GetProperty("rings").GetInt32());
        var snapshot = await http.GetAsync("/api/snapshot.svg");
        Assert.Equal("image/svg+xml", snapshot.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("<svg", (await snapshot.Content.ReadAsStringAsync()).TrimStart(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/nope")).StatusCode);
        Assert.Equal(4, origin.Requests);
    }

    [Fact]
    public async Task Demo_endpoints_need_the_token_relay_the_pin_and_collect_reports()
    {
        string state = Path.Combine(_root, "bridge");
        using var identity = AgentIdentity.LoadOrCreate(state, "Demo Parts Bridge");
        var trust = PeerTrust.Open(state);
        var tokens = BridgeTokens.Open(state, Token);
        await using var devices = new DeviceRegistry(identity, trust, ["lo"], NullLoggerFactory.Instance);
        var session = new DemoSession("abcdefghijklmnop", "Front Door", 100, 3);
        await using var server = await BridgeServer.StartAsync(new BridgeServerOptions { Port = 0, MapExtra = session.Map }, devices, tokens, NullLoggerFactory.Instance, CancellationToken.None);
        using var anon = new HttpClient { BaseAddress = new Uri(server.Url) };
        using var admin = new HttpClient { BaseAddress = new Uri(server.Url) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/demo")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/demo/pin")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostAsync("/api/demo/report", new StringContent("{\"step\":\"x\"}", Encoding.UTF8, "application/json"))).StatusCode);

        using (var doc = JsonDocument.Parse(await admin.GetStringAsync("/api/demo")))
        {
            Assert.Equal("abcdefghijklmnop", doc.RootElement.GetProperty("deviceId").GetString());
            Assert.Equal(100, doc.RootElement.GetProperty("frames").GetInt32());
            Assert.Equal(3, doc.RootElement.GetProperty("talkSeconds").GetInt32());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/demo/pin")).StatusCode);
        session.Pin = "1234-5678-9012";
        using (var doc = JsonDocument.Parse(await admin.GetStringAsync("/api/demo/pin")))
            Assert.Equal("1234-5678-9012", doc.RootElement.GetProperty("pin").GetString());

        var ok = await admin.PostAsync("/api/demo/report", new StringContent("{\"step\":\"video\",\"ok\":true,\"text\":\"100 frames\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        Assert.True(session.Reports.TryRead(out var report));
        Assert.Equal("video", report.GetProperty("step").GetString());
        Assert.Equal("100 frames", report.GetProperty("text").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/demo/report", new StringContent("{\"ok\":true}", Encoding.UTF8, "application/json"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/demo/report", new StringContent("{nope", Encoding.UTF8, "application/json"))).StatusCode);
        Assert.False(session.Reports.TryRead(out _));
    }

    [Fact]
    public async Task Ui_files_for_camera_talk_and_the_story_are_served_with_the_csp()
    {
        string state = Path.Combine(_root, "bridge2");
        using var identity = AgentIdentity.LoadOrCreate(state, "Demo Parts Bridge");
        await using var devices = new DeviceRegistry(identity, PeerTrust.Open(state), ["lo"], NullLoggerFactory.Instance);
        // No MapExtra: a plain `serve` has no /api/demo.
        await using var server = await BridgeServer.StartAsync(new BridgeServerOptions { Port = 0 }, devices, BridgeTokens.Open(state, Token), NullLoggerFactory.Instance, CancellationToken.None);
        using var anon = new HttpClient { BaseAddress = new Uri(server.Url) };
        using var admin = new HttpClient { BaseAddress = new Uri(server.Url) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/demo")).StatusCode);

        string index = await anon.GetStringAsync("/");
        Assert.DoesNotContain("data-todo", index, StringComparison.Ordinal); // the camera/talk placeholders are gone
        foreach (string id in new[] { "id=\"video\"", "id=\"camera-stats\"", "id=\"talk-button\"", "id=\"peers\"", "id=\"tokens\"", "id=\"rest-form\"" })
            Assert.Contains(id, index, StringComparison.Ordinal);

        var module = await anon.GetAsync("/webrtc.js");
        Assert.Equal(HttpStatusCode.OK, module.StatusCode);
        Assert.Equal("text/javascript", module.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", module.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        string js = await module.Content.ReadAsStringAsync();
        Assert.Contains("export async function startWhep", js, StringComparison.Ordinal);
        Assert.Contains("export async function startWhip", js, StringComparison.Ordinal);
        Assert.Contains("'Content-Type': 'application/sdp'", js, StringComparison.Ordinal);
        Assert.Contains("method: 'DELETE'", js, StringComparison.Ordinal);

        string app = await anon.GetStringAsync("/app.js");
        Assert.Contains("from './webrtc.js'", app, StringComparison.Ordinal);
        Assert.Contains("from './page.js'", app, StringComparison.Ordinal);
        Assert.Contains("/demo/demo.js", await anon.GetStringAsync("/demo/index.html"), StringComparison.Ordinal);
        string demo = await anon.GetStringAsync("/demo/demo.js");
        Assert.Contains("/api/demo/report", demo, StringComparison.Ordinal);
        Assert.Contains("from '/page.js'", demo, StringComparison.Ordinal);
        // The pages' shared module (element lookup, the JSON API call) is served like the others.
        var page = await anon.GetAsync("/page.js");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/javascript", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("export async function api", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("talk-back from abcdefghijklmnop: 150 packets, 3.0 s audio", 150)]
    [InlineData("talk-back from abcdefghijklmnop: 0 packets, 0.0 s audio", 0)]
    [InlineData("talk-back from x: lots packets", 0)]
    [InlineData("talk-back from x", 0)]
    [InlineData("talk-back from x: -5 packets", 0)]
    public void Talk_back_line_packets(string line, long packets) => Assert.Equal(packets, DoorbellDemo.TalkPackets(line));

    [Fact]
    public void Agent_line_fields()
    {
        const string line = "agent 'Front Door' id=ejcqagf66eqvlmka fp=IkUAGL7x/Xs= port=53811 interfaces=lo";
        Assert.Equal("ejcqagf66eqvlmka", DoorbellDemo.Field(line, "id"));
        Assert.Equal("IkUAGL7x/Xs=", DoorbellDemo.Field(line, "fp"));
        Assert.Null(DoorbellDemo.Field(line, "nope"));
    }
}
