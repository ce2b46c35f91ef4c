using System.Net.WebSockets;
using System.Text.Json.Nodes;
using OspBridge.PeerFetch;
using OspBridge.Testing.Http;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// Issue 13 with real <c>ospbridge serve</c> and <c>ospbridge agent</c> child processes on loopback (mDNS on lo):
/// the API's auth and error answers, web PIN pairing, the REST gateway, WebSocket and PeerJS signaling to the
/// device's WebRTC answering (the "browser" is our RTCPeerConnection here; Chromium runs in the Interop tier),
/// unpairing, a device that disappears, and serving through 10 000 junk requests.
/// </summary>
public sealed class ServeTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private const string Token = "test-admin-token-0123456789";
    private readonly TestDirectory _root = new("ospbridge-serve");

    public void Dispose() => _root.Dispose();

    private static HttpClient Client(Uri url, string? token = Token)
    {
        var c = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task AuthErrorsRateLimitsAndJunk()
    {
        var (serve, url) = await CliChild.StartServeAsync(_root["bridge"], Step, "--token", Token);
        await using var serveOwner = serve;
        using var anon = Client(url, token: null);
        using var wrong = Client(url, token: "wrong-token-wrong-token");
        using var admin = Client(url);

        // The admin URL carries the token in the fragment.
        Assert.Contains(serve.Lines, l => l == $"admin {url.ToString().TrimEnd('/')}/#token={Token}");

        // 401 without / with a wrong token; the UI itself is public.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/devices")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/devices")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/devices/abc/http/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/peerjs/peerjs?key=nope&id=a&token=b")).StatusCode);
        var index = await anon.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Contains("<title>OspBridge</title>", await index.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await anon.GetAsync("/app.js")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anon.GetAsync("/nope.txt")).StatusCode);

        // With the token: an empty list, 404 for an unknown device, 415/400 for bad bodies.
        var list = await admin.GetAsync("/api/devices");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.ValueKind);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/api/devices/nosuch/pair", JsonBody("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/devices/nosuch/http/x")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync("/api/devices/nosuch/pair")).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await admin.PostAsync("/api/devices/nosuch/pair", new StringContent("{}", Encoding.UTF8, "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/devices/nosuch/pair", JsonBody("{\"pin\":"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/devices/nosuch/pair", JsonBody("[1,2]"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/ws/nosuch")).StatusCode); // not a WebSocket upgrade
        var id = await admin.GetAsync("/peerjs/" + Token + "/id");
        Assert.Equal(HttpStatusCode.OK, id.StatusCode);
        Assert.True(Guid.TryParse(await id.Content.ReadAsStringAsync(), out _));

        // Login: a browser token in an HttpOnly SameSite=Strict cookie that works, is listed, and can be revoked.
        var login = await anon.PostAsync("/api/login", JsonBody($"{{\"token\":\"{Token}\"}}"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        string setCookie = login.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        string cookie = setCookie.Split(';')[0];
        string tokenId = JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        using (var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/devices"))
        {
            withCookie.Headers.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.OK, (await anon.SendAsync(withCookie)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostAsync("/api/login", JsonBody("{\"token\":\"wrong-token-wrong-token\"}"))).StatusCode);
        var tokens = JsonDocument.Parse(await admin.GetStringAsync("/api/tokens")).RootElement;
        Assert.Contains(tokens.EnumerateArray(), t => t.GetProperty("id").GetString() == tokenId);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/tokens/" + tokenId)).StatusCode);
        using (var revoked = new HttpRequestMessage(HttpMethod.Get, "/api/devices"))
        {
            revoked.Headers.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anon.SendAsync(revoked)).StatusCode);
        }

        // 10 000 junk requests (bad paths, bad tokens, garbage bodies, raw garbage on the socket) — then it still answers.
        // 64 at a time: the bridge must survive the volume, not a connection flood.
        await JunkRequests.RunAsync(wrong, anon, url, count: 10_000, parallel: 64);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/devices")).StatusCode);
        Assert.False(serve.HasExited);

        // Rate limit on POST/PATCH/DELETE: a burst past the window's allowance gets 429 with Retry-After.
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 80; i++) statuses.Add((await admin.PostAsync("/api/devices/nosuch/pair", JsonBody("{}"))).StatusCode);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        var limited = await admin.PostAsync("/api/devices/nosuch/pair", JsonBody("{}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter is not null);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/devices")).StatusCode); // reads are not limited
    }
}
