using System.Diagnostics;
using System.Net.WebSockets;
using OspBridge.Testing.Http;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// Revocation that bites (docs/bridge.md, "Grants and browser tokens"), against real <c>ospbridge serve</c> children:
/// revoking a browser token (<c>DELETE /api/tokens/{id}</c>) or logging out (<c>POST /api/logout</c>) ends the streams
/// opened with it — the device-events SSE stream (an <c>event: revoked</c>, then the end), <c>/peerjs</c> and
/// <c>/ws/{id}</c> WebSockets (close 1008) — while another token's streams stay open; and revoking the bridge's own
/// <c>ospbridge</c> grant on a paired device makes the bridge stop using it (session closed, 403 with the way back,
/// not re-granted by the next request) until <c>POST /api/devices/{id}/pair</c> allows it again.
/// </summary>
public sealed class RevocationTests : IDisposable
{
    private const string Token = "revocation-admin-token-0123456789";
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    /// <summary>How long a revoked stream may take to end in these tests (the product ends it at once; the bound is for a loaded machine).</summary>
    private static readonly TimeSpan Bite = TimeSpan.FromSeconds(3);

    private readonly TestDirectory _root = new("ospbridge-revoke");

    public void Dispose() => _root.Dispose();

    private static HttpClient Client(Uri url, string? bearer)
    {
        var c = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = url, Timeout = Step };
        if (bearer is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return c;
    }

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Logs a browser in: its session cookie value (a browser token) and the token's id.</summary>
    private static async Task<(string Cookie, string Id)> LoginAsync(HttpClient anon)
    {
        var login = await anon.PostAsync("/api/login", JsonBody($"{{\"token\":\"{Token}\"}}"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        string cookie = login.Headers.GetValues("Set-Cookie").Single().Split(';')[0]["ospbridge_session=".Length..];
        return (cookie, JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!);
    }

    /// <summary>An open SSE stream (device events) read line by line.</summary>
    private sealed class Sse(HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        public static async Task<Sse> OpenAsync(HttpClient anon, string browserToken)
        {
            var res = await anon.GetAsync("/api/devices/events?token=" + Uri.EscapeDataString(browserToken), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            var sse = new Sse(res, new StreamReader(await res.Content.ReadAsStreamAsync()));
            string? first = await sse.NextEventAsync();
            Assert.True(first == "devices", $"the stream starts with the device list, saw '{first}'");
            return sse;
        }

        /// <summary>
        /// The next event's name other than <c>device</c>, or null at the end of the stream. A <c>device</c> event is one
        /// device's change in what the bridge discovers; agents that tests running in parallel advertise can cause them
        /// at any time (CI saw one between the revoke and its <c>revoked</c>), so they are not what these tests are about.
        /// </summary>
        public async Task<string?> NextEventAsync()
        {
            using var timeout = new CancellationTokenSource(Step);
            while (await reader.ReadLineAsync(timeout.Token) is { } line)
                if (line.StartsWith("event: ", StringComparison.Ordinal) && line != "event: device") return line["event: ".Length..];
            return null;
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
        }
    }

    private static async Task<ClientWebSocket> PeerJsAsync(Uri url, string key, string id)
    {
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://{url.Authority}/peerjs?key={Uri.EscapeDataString(key)}&id={id}&token=tok-{id}&version=1.5.5"), CancellationToken.None);
        var (type, _) = await ReceiveAsync(ws);
        Assert.True(type is not null && type.Contains("\"OPEN\"", StringComparison.Ordinal), $"PeerJS OPEN expected, saw {type}");
        return ws;
    }

    /// <summary>The next text message, or (null, close status) when the bridge closed.</summary>
    private static async Task<(string? Text, WebSocketCloseStatus? Close)> ReceiveAsync(ClientWebSocket ws)
    {
        using var timeout = new CancellationTokenSource(Step);
        var buffer = new byte[64 * 1024];
        int used = 0;
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer.AsMemory(used), timeout.Token);
            if (r.MessageType == WebSocketMessageType.Close) return (null, ws.CloseStatus);
            used += r.Count;
            if (r.EndOfMessage) return (Encoding.UTF8.GetString(buffer, 0, used), null);
        }
    }

    /// <summary>Waits for the bridge to close <paramref name="ws"/>; its close status and the time it took.</summary>
    private static async Task<(WebSocketCloseStatus? Status, string? Reason, TimeSpan After)> ClosedAsync(ClientWebSocket ws, Stopwatch since)
    {
        while (true)
        {
            var (text, close) = await ReceiveAsync(ws);
            if (text is null) return (close, ws.CloseStatusDescription, since.Elapsed);
        }
    }

    [Fact]
    public async Task Revoking_a_browser_token_or_logging_out_ends_its_sse_and_peerjs_streams_and_only_those()
    {
        var (serve, url) = await CliChild.StartServeAsync(_root["bridge"], Step, "--token", Token);
        await using var serveOwner = serve;
        using var anon = Client(url, bearer: null);
        using var admin = Client(url, Token);
        var (a, aId) = await LoginAsync(anon);
        var (b, _) = await LoginAsync(anon);

        using var sseA = await Sse.OpenAsync(anon, a);
        using var sseB = await Sse.OpenAsync(anon, b);
        using var peerA = await PeerJsAsync(url, a, "client-a");
        using var peerB = await PeerJsAsync(url, b, "client-b");

        // Revoke A: A's SSE says "revoked" and ends, A's PeerJS socket closes 1008 — at once, while A's requests get 401.
        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/tokens/" + aId)).StatusCode);
        var (status, reason, after) = await ClosedAsync(peerA, clock);
        Assert.True(status == WebSocketCloseStatus.PolicyViolation, $"PeerJS socket of the revoked token: close {status} '{reason}' after {after.TotalMilliseconds:F0} ms");
        Assert.Equal("token revoked", reason);
        Assert.True(after < Bite, $"the PeerJS socket closed {after.TotalMilliseconds:F0} ms after the revoke");
        Assert.Equal("revoked", await sseA.NextEventAsync());
        Assert.Null(await sseA.NextEventAsync());
        Assert.True(clock.Elapsed < Bite, $"the SSE stream ended {clock.Elapsed.TotalMilliseconds:F0} ms after the revoke");
        using (var req = new HttpRequestMessage(HttpMethod.Get, "/api/devices") { Headers = { { "Cookie", "ospbridge_session=" + a } } })
            Assert.Equal(HttpStatusCode.Unauthorized, (await anon.SendAsync(req)).StatusCode);

        // B's and the admin's streams are untouched: B's PeerJS socket still relays (an OFFER to an unknown peer → EXPIRE).
        await peerB.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"OFFER\",\"dst\":\"nobody\",\"payload\":{\"connectionId\":\"c1\"}}"), WebSocketMessageType.Text, true, CancellationToken.None);
        var (expire, closedB) = await ReceiveAsync(peerB);
        Assert.True(closedB is null && expire!.Contains("\"EXPIRE\"", StringComparison.Ordinal), $"B's PeerJS socket must stay open: {expire} {closedB}");

        // B logs out: its SSE and PeerJS end the same way, the cookie is cleared, its token is gone.
        clock.Restart();
        using (var logout = new HttpRequestMessage(HttpMethod.Post, "/api/logout") { Headers = { { "Cookie", "ospbridge_session=" + b } } })
        {
            var res = await anon.SendAsync(logout);
            Assert.Equal(HttpStatusCode.NoContent, res.StatusCode);
            Assert.Contains(res.Headers.GetValues("Set-Cookie"), c => c.StartsWith("ospbridge_session=;", StringComparison.Ordinal) && c.Contains("expires=", StringComparison.OrdinalIgnoreCase));
        }
        (status, reason, after) = await ClosedAsync(peerB, clock);
        Assert.True(status == WebSocketCloseStatus.PolicyViolation && after < Bite, $"PeerJS socket after logout: close {status} '{reason}' after {after.TotalMilliseconds:F0} ms");
        Assert.Equal("revoked", await sseB.NextEventAsync());
        Assert.Null(await sseB.NextEventAsync());
        Assert.DoesNotContain(JsonDocument.Parse(await admin.GetStringAsync("/api/tokens")).RootElement.EnumerateArray(), t => t.GetProperty("id").GetString() == aId);
        Assert.Empty(JsonDocument.Parse(await admin.GetStringAsync("/api/tokens")).RootElement.EnumerateArray());

        // The admin token is not revocable: its logout only clears a cookie.
        Assert.Equal(HttpStatusCode.NoContent, (await admin.PostAsync("/api/logout", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/devices")).StatusCode);
    }

    [Fact]
    public async Task Ws_signaling_closes_on_token_revoke_and_revoking_the_bridges_own_grant_stops_it_using_the_device()
    {
        await using var origin = TestHttpOrigin.Start(async (req, res) =>
        {
            await Task.CompletedTask;
            res.ContentType = "application/json";
            return Encoding.UTF8.GetBytes("{\"ok\":true}");
        });
        string name = "Revoke cam " + Guid.NewGuid().ToString("N")[..6];
        await using var agent = await CliChild.StartAgentAsync(name, _root["device"], Step, "--http-origin", origin.Url);
        var (serve, url) = await CliChild.StartServeAsync(_root["bridge"], Step, "--token", Token);
        string id;
        try
        {
            id = await PairAndRevokeAsync(agent, serve, url, name);
        }
        finally
        {
            await serve.DisposeAsync();
        }

        // Withheld across a restart of the bridge (kept in its state dir).
        (serve, url) = await CliChild.StartServeAsync(_root["bridge"], Step, "--token", Token);
        await using var serveOwner2 = serve;
        using var admin2 = Client(url, Token);
        await BridgeApi.DeviceIdAsync(admin2, name, Step, d => d.GetProperty("online").GetBoolean());
        Assert.Equal(HttpStatusCode.Forbidden, (await admin2.GetAsync($"/devices/{id}/http/status")).StatusCode);

        // Allowed again without a PIN: POST …/pair with {} → 200, the grant is back, the gateway works.
        int from = agent.Lines.Count;
        var allow = await admin2.PostAsync($"/api/devices/{id}/pair", JsonBody("{}"));
        Assert.True(allow.StatusCode == HttpStatusCode.OK, $"{allow.StatusCode} {await allow.Content.ReadAsStringAsync()}");
        var back = await admin2.GetAsync($"/devices/{id}/http/status");
        Assert.True(back.StatusCode == HttpStatusCode.OK, $"{back.StatusCode} {await back.Content.ReadAsStringAsync()} {serve.StandardError}");
        Assert.DoesNotContain(agent.Lines.Skip(from), l => l.StartsWith("PIN: ", StringComparison.Ordinal));
        var grants = JsonDocument.Parse(await admin2.GetStringAsync($"/api/devices/{id}/grants")).RootElement;
        Assert.Contains(grants.EnumerateArray(), g => g.GetProperty("app").GetString() == "ospbridge");
        Assert.False(JsonDocument.Parse(await admin2.GetStringAsync("/api/grants")).RootElement.EnumerateArray().Single(d => d.GetProperty("id").GetString() == id).GetProperty("withheld").GetBoolean());
    }

    /// <summary>Pairs, then: /ws/{id} closes on a token revoke; the bridge's own grant revoked → 403 and the session ends.</summary>
    private static async Task<string> PairAndRevokeAsync(CliChild agent, CliChild serve, Uri url, string name)
    {
        using var anon = Client(url, bearer: null);
        using var admin = Client(url, Token);

        // Pair with the PIN the device prints.
        string id = await BridgeApi.DeviceIdAsync(admin, name, Step, d => d.GetProperty("online").GetBoolean());
        int from = agent.Lines.Count;
        var start = await admin.PostAsync($"/api/devices/{id}/pair", JsonBody("{}"));
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, $"{start.StatusCode} {await start.Content.ReadAsStringAsync()} {serve.StandardError}");
        var (pinLine, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, from);
        var ok = await admin.PostAsync($"/api/devices/{id}/pair", JsonBody($"{{\"pin\":\"{pinLine["PIN: ".Length..].Trim()}\"}}"));
        Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{ok.StatusCode} {await ok.Content.ReadAsStringAsync()} {serve.StandardError}");
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/devices/{id}/http/status")).StatusCode);

        // /ws/{id} opened with a browser token closes 1008 when that token is revoked.
        var (browser, browserId) = await LoginAsync(anon);
        using (var ws = new ClientWebSocket())
        {
            await ws.ConnectAsync(new Uri($"ws://{url.Authority}/ws/{id}?token={Uri.EscapeDataString(browser)}"), CancellationToken.None);
            var clock = Stopwatch.StartNew();
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/tokens/" + browserId)).StatusCode);
            var (status, reason, after) = await ClosedAsync(ws, clock);
            Assert.True(status == WebSocketCloseStatus.PolicyViolation && reason == "token revoked" && after < Bite,
                $"/ws/{id} of the revoked token: close {status} '{reason}' after {after.TotalMilliseconds:F0} ms");
        }

        // The bridge's own grant revoked: its session with the device closes (a /ws/{id} on it ends), every use is 403
        // with the way back — also after several requests (nothing re-grants it) — and the pairing stays.
        var grants = JsonDocument.Parse(await admin.GetStringAsync($"/api/devices/{id}/grants")).RootElement;
        Assert.Contains(grants.EnumerateArray(), g => g.GetProperty("app").GetString() == "ospbridge");
        using (var ws = new ClientWebSocket())
        {
            ws.Options.SetRequestHeader("Authorization", "Bearer " + Token);
            await ws.ConnectAsync(new Uri($"ws://{url.Authority}/ws/{id}"), CancellationToken.None);
            var clock = Stopwatch.StartNew();
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/devices/{id}/grants?app=ospbridge")).StatusCode);
            var ended = await EndedAsync(ws);
            Assert.True(clock.Elapsed < Bite, $"/ws/{id} on the withheld device ended ({ended}) {clock.Elapsed.TotalMilliseconds:F0} ms after the grant was revoked");
        }
        for (int i = 0; i < 3; i++)
        {
            var refused = await admin.GetAsync($"/devices/{id}/http/status");
            string body = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.Forbidden && body.Contains($"/api/devices/{id}/pair", StringComparison.Ordinal),
                $"request {i} to the withheld device: {refused.StatusCode} {body}");
        }
        var all = JsonDocument.Parse(await admin.GetStringAsync("/api/grants")).RootElement;
        var mine = Assert.Single(all.EnumerateArray(), d => d.GetProperty("id").GetString() == id);
        Assert.True(mine.GetProperty("withheld").GetBoolean(), mine.ToString());
        Assert.DoesNotContain(mine.GetProperty("grants").EnumerateArray(), g => g.GetProperty("app").GetString() == "ospbridge");
        Assert.True(JsonDocument.Parse(await admin.GetStringAsync($"/api/devices/{id}")).RootElement.GetProperty("paired").GetBoolean(), "the pairing stays");
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/api/devices/{id}/grants?app=ospbridge")).StatusCode);
        return id;
    }

    /// <summary>How the bridge ended a WebSocket: its close status, or "aborted" when the connection just went.</summary>
    private static async Task<string> EndedAsync(ClientWebSocket ws)
    {
        try
        {
            var (_, close) = await ReceiveAsync(ws);
            while (close is null) (_, close) = await ReceiveAsync(ws);
            return close.ToString()!;
        }
        catch (WebSocketException ex)
        {
            return "aborted: " + ex.WebSocketErrorCode;
        }
    }
}
