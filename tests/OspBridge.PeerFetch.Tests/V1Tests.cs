using System.Net;
using System.Text;
using System.Text.Json;
using OspBridge.Net.Channels;

namespace OspBridge.PeerFetch.Tests;

/// <summary>The device speaks the original peerfetch (v1) to a client that follows the v1 rules exactly.</summary>
public class V1Tests
{
    private static readonly PeerFetchDeviceOptions FastHeartbeats = new() { V1HeartbeatInterval = TimeSpan.FromMilliseconds(200) };

    /// <summary>A literal v1 client: one text request, skip 202s, one text header, one body message unless 204.</summary>
    private sealed class RawV1(IMessageChannel ch)
    {
        public int Heartbeats { get; private set; }

        public async Task<(JsonElement Header, ChannelMessage? Body)> RequestAsync(string json)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await ch.SendAsync(Encoding.UTF8.GetBytes(json), isText: true, cts.Token);
            while (true)
            {
                var m = (await ch.ReceiveAsync(cts.Token))!.Value;
                Assert.True(m.IsText, "a header is a text message");
                var header = JsonDocument.Parse(m.Data).RootElement.Clone();
                int status = header.GetProperty("status").GetInt32();
                if (status == 202) { Heartbeats++; continue; }
                if (status == 204) return (header, null);
                var body = (await ch.ReceiveAsync(cts.Token))!.Value;
                return (header, body);
            }
        }
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("webrtc")]
    public async Task Ping_get_heartbeats_and_bodies(string kind)
    {
        await using var rig = await Rig.StartAsync(kind, options: FastHeartbeats);
        var v1 = new RawV1(rig.Link.Client);
        string Url(string path) => $"http://localhost:{rig.Origin.Uri.Port}/{path}";

        var (pong, pongBody) = await v1.RequestAsync("""{"url":"ping?","method":"GET"}""");
        Assert.Equal(200, pong.GetProperty("status").GetInt32());
        Assert.True(pongBody!.Value.IsText);
        Assert.Equal("pong", Encoding.UTF8.GetString(pongBody.Value.Data.Span));

        var (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("bytes/60000")}}?","method":"GET"}""");
        Assert.Equal(200, h.GetProperty("status").GetInt32());
        Assert.Equal("application/octet-stream", h.GetProperty("content-type").GetString());
        Assert.Equal(60000, h.GetProperty("content-length").GetInt32());
        Assert.False(body!.Value.IsText);
        Assert.Equal(Bodies.Make(60000), body.Value.Data.ToArray());

        int before = v1.Heartbeats;
        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("slow?ms=900")}}","method":"GET"}""");
        Assert.Equal(200, h.GetProperty("status").GetInt32());
        Assert.Equal("slow done", Encoding.UTF8.GetString(body!.Value.Data.Span));
        Assert.True(v1.Heartbeats - before >= 3, $"expected ≥3 heartbeats during a 900 ms request at 200 ms, got {v1.Heartbeats - before}");

        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("nocontent")}}","method":"GET"}""");
        Assert.Equal(204, h.GetProperty("status").GetInt32());
        Assert.Null(body);
        // Nothing follows a 204 header: the next answer is the next request's.
        (h, body) = await v1.RequestAsync("""{"url":"ping?","method":"GET"}""");
        Assert.Equal("pong", Encoding.UTF8.GetString(body!.Value.Data.Span));
    }

    [Fact]
    public async Task Post_put_errors_and_413()
    {
        await using var rig = await Rig.StartAsync("memory", o => [new PeerFetchOrigin(o.Uri) { AllowedPathPrefixes = ["/echo", "/bytes", "/status"] }],
            options: FastHeartbeats, maxMessageSize: 65536);
        var v1 = new RawV1(rig.Link.Client);
        string Url(string path) => $"http://localhost:{rig.Origin.Uri.Port}/{path}";

        var (h, body) = await v1.RequestAsync("{\"url\":\"" + Url("echo") + "\",\"method\":\"POST\",\"json\":{\"a\":[1,2,3]}}");
        Assert.Equal(200, h.GetProperty("status").GetInt32());
        Assert.Equal("application/json", h.GetProperty("content-type").GetString());
        Assert.Equal("""{"a":[1,2,3]}""", Encoding.UTF8.GetString(body!.Value.Data.Span));

        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("echo")}}","method":"PUT","data":"put body kept"}""");
        Assert.Equal(200, h.GetProperty("status").GetInt32());
        Assert.Equal("put body kept", Encoding.UTF8.GetString(body!.Value.Data.Span));

        // Larger than the peer's max-message-size: 413 with a JSON error instead of an oversized message.
        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("bytes/65537")}}","method":"GET"}""");
        Assert.Equal(413, h.GetProperty("status").GetInt32());
        Assert.Contains("max-message-size", JsonDocument.Parse(body!.Value.Data).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("bytes/65536")}}","method":"GET"}""");
        Assert.Equal(200, h.GetProperty("status").GetInt32());
        Assert.Equal(65536, body!.Value.Data.Length);

        // Outside the allow-list, and a host that is not an origin name: 403, never fetched.
        (h, _) = await v1.RequestAsync($$"""{"url":"{{Url("secret")}}","method":"GET"}""");
        Assert.Equal(403, h.GetProperty("status").GetInt32());
        (h, _) = await v1.RequestAsync("""{"url":"http://169.254.169.254/latest/meta-data","method":"GET"}""");
        Assert.Equal(403, h.GetProperty("status").GetInt32());
        // Origin 4xx/5xx pass through.
        (h, body) = await v1.RequestAsync($$"""{"url":"{{Url("status/503")}}","method":"GET"}""");
        Assert.Equal(503, h.GetProperty("status").GetInt32());
        Assert.Equal("status 503", Encoding.UTF8.GetString(body!.Value.Data.Span));
        // Not JSON: a real 400 header + body (the original sent nothing).
        (h, body) = await v1.RequestAsync("not json");
        Assert.Equal(400, h.GetProperty("status").GetInt32());
        Assert.NotNull(body);
    }

    [Fact]
    public async Task Origin_down_is_a_real_502()
    {
        int dead = Origin.DeadPort();
        await using var rig = await Rig.StartAsync("memory", _ => [new PeerFetchOrigin(new Uri($"http://127.0.0.1:{dead}"))], options: FastHeartbeats);
        var v1 = new RawV1(rig.Link.Client);
        var (h, body) = await v1.RequestAsync($$"""{"url":"http://localhost:{{dead}}/api/status","method":"GET"}""");
        Assert.Equal(502, h.GetProperty("status").GetInt32());
        Assert.StartsWith("application/json", h.GetProperty("content-type").GetString(), StringComparison.Ordinal);
        Assert.True(JsonDocument.Parse(body!.Value.Data).RootElement.TryGetProperty("error", out _));
    }

    [Fact]
    public async Task Handler_falls_back_to_v1_against_a_v1_only_device()
    {
        await using var rig = await Rig.StartAsync("memory", options: FastHeartbeats with { EnableV2 = false });
        Assert.Equal("{\"hello\":\"world\"}", await rig.Http.GetStringAsync("json"));
        Assert.Equal(PeerFetchProtocol.V1, rig.Handler.Protocol);
        Assert.Equal(Bodies.Make(20000), await rig.Http.GetByteArrayAsync("bytes/20000"));
        using var post = await rig.Http.PostAsync("echo", new StringContent("{\"x\":1}", Encoding.UTF8, "application/json"));
        Assert.Equal("{\"x\":1}", await post.Content.ReadAsStringAsync());
        using var slow = await rig.Http.GetAsync("slow?ms=500");
        Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
        // Sequential semantics still serve concurrent callers (queued, one in flight).
        var many = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => rig.Http.GetStringAsync("json")));
        Assert.All(many, s => Assert.Equal("{\"hello\":\"world\"}", s));
    }

    [Fact]
    public async Task Handler_falls_back_when_the_device_stays_silent()
    {
        var link = Link.Memory();
        await using var _ = link;
        // A "device" that answers v1 pings only (ignores binary): like an original peerfetch proxy that drops a HELLO.
        var device = Task.Run(async () =>
        {
            while (await link.Device.ReceiveAsync() is { } m)
            {
                if (!m.IsText) continue;
                await link.Device.SendAsync(Encoding.UTF8.GetBytes("""{"status":200}"""), true);
                await link.Device.SendAsync(Encoding.UTF8.GetBytes("pong"), true);
            }
        });
        using var handler = new PeerFetchHandler(link.Client, new PeerFetchClientOptions { NegotiationTimeout = TimeSpan.FromMilliseconds(300) });
        Assert.Equal(PeerFetchProtocol.V1, await handler.ConnectAsync());
        using var http = new HttpClient(handler, disposeHandler: false);
        Assert.Equal("pong", await http.GetStringAsync("http://device/ping"));
    }
}
