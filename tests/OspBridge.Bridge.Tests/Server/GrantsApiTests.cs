using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// The UI's access lists (docs/bridge.md, "Grants and browser tokens") against a real <c>ospbridge serve</c> child: each
/// paired device's LP2P app grants from the bridge's trust store (<c>GET /api/grants</c>,
/// <c>GET/DELETE /api/devices/{id}/grants</c>) and <c>GET /api/tokens/self</c>; 401 without a credential, 404/400 rules.
/// </summary>
public sealed class GrantsApiTests : IDisposable
{
    private const string Token = "grants-admin-token-0123456789";
    private const string Fingerprint = "vxIIBWXpsKV9292Wma/f8Ly7Qf6zwr5ZuSFG22BKZ0Q="; // docs/trust.md's golden agent key, id x4jaqblf5gykk7o3
    private const string DeviceId = "x4jaqblf5gykk7o3";
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly TestDirectory _root = new("ospbridge-grants");

    public void Dispose() => _root.Dispose();

    private static HttpClient Client(Uri url, string? token = Token)
    {
        var c = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    [Fact]
    public async Task Grants_are_listed_and_revoked_per_app_and_tokens_self_names_the_caller()
    {
        string state = _root["bridge"];
        var trust = OspTrustStore.Open(state);
        trust.RecordAuthenticated(Fingerprint, "Porch camera");
        trust.Grant(Fingerprint, "ospbridge");
        trust.Grant(Fingerprint, "https://chat.example");
        trust.Flush();

        var (serve, url) = await CliChild.StartServeAsync(state, Step, "--token", Token);
        await using var serveOwner = serve;
        using var anon = Client(url, token: null);
        using var admin = Client(url);

        // Behind the token like the rest of /api.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/grants")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync($"/api/devices/{DeviceId}/grants")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.DeleteAsync($"/api/devices/{DeviceId}/grants?app=ospbridge")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/tokens/self")).StatusCode);

        // Listed: the device with both grants.
        var all = JsonDocument.Parse(await admin.GetStringAsync("/api/grants")).RootElement;
        var device = Assert.Single(all.EnumerateArray());
        Assert.Equal(DeviceId, device.GetProperty("id").GetString());
        Assert.Equal("Porch camera", device.GetProperty("name").GetString());
        Assert.Equal(Fingerprint, device.GetProperty("fp").GetString());
        Assert.Equal<string>(["ospbridge", "https://chat.example"], device.GetProperty("grants").EnumerateArray().Select(g => g.GetProperty("app").GetString()!).ToArray());
        Assert.True(device.GetProperty("grants")[0].TryGetProperty("granted", out _));
        var one = JsonDocument.Parse(await admin.GetStringAsync($"/api/devices/{DeviceId}/grants")).RootElement;
        Assert.Equal(2, one.GetArrayLength());

        // 404 unknown device / app, 400 without exactly one app.
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/devices/nosuchdevice0000/grants")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync("/api/devices/nosuchdevice0000/grants?app=ospbridge")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants?app=other")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants?app=a&app=b")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants?app=" + new string('x', 300))).StatusCode);

        // Revoking one app's grant (an origin: escaped in the query) keeps the pairing and the other grant; again → 404.
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants?app=" + Uri.EscapeDataString("https://chat.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/api/devices/{DeviceId}/grants?app=" + Uri.EscapeDataString("https://chat.example"))).StatusCode);
        one = JsonDocument.Parse(await admin.GetStringAsync($"/api/devices/{DeviceId}/grants")).RootElement;
        Assert.Equal<string>(["ospbridge"], one.EnumerateArray().Select(g => g.GetProperty("app").GetString()!).ToArray());
        trust.Reload();
        Assert.True(trust.IsTrusted(Fingerprint), "revoking a grant must keep the pairing");
        Assert.False(trust.HasGrant(Fingerprint, "https://chat.example"));
        Assert.True(trust.HasGrant(Fingerprint, "ospbridge"));
        var devices = JsonDocument.Parse(await admin.GetStringAsync("/api/devices")).RootElement;
        Assert.Contains(devices.EnumerateArray(), d => d.GetProperty("id").GetString() == DeviceId && d.GetProperty("paired").GetBoolean());

        // tokens/self: the admin token is no browser token; a logged-in browser sees its own id, revocable, then 401.
        var self = JsonDocument.Parse(await admin.GetStringAsync("/api/tokens/self")).RootElement;
        Assert.Equal(JsonValueKind.Null, self.GetProperty("id").ValueKind);
        Assert.True(self.GetProperty("admin").GetBoolean());
        var login = await anon.PostAsync("/api/login", new StringContent($"{{\"token\":\"{Token}\"}}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        string cookie = login.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        string tokenId = JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        using (var req = new HttpRequestMessage(HttpMethod.Get, "/api/tokens/self"))
        {
            req.Headers.Add("Cookie", cookie);
            var res = await anon.SendAsync(req);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            var mine = JsonDocument.Parse(await res.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(tokenId, mine.GetProperty("id").GetString());
            Assert.False(mine.GetProperty("admin").GetBoolean());
        }
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/tokens/" + tokenId)).StatusCode);
        using (var req = new HttpRequestMessage(HttpMethod.Get, "/api/grants"))
        {
            req.Headers.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anon.SendAsync(req)).StatusCode);
        }
    }
}
