using System.Net.WebSockets;
using System.Text.Json.Nodes;
using OspBridge.PeerFetch;
using OspBridge.Testing.Http;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// The bridge with a real device agent (<c>ospbridge agent --http-origin</c>) on loopback: discovery, web PIN
/// pairing (wrong PIN 403, right PIN 200), the REST gateway, WebSocket signaling and PeerJS signaling to the
/// device's WebRTC answering with PeerFetch on <c>http-proxy</c>, unpairing, and the device disappearing.
/// </summary>
public sealed class ServeDeviceTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private const string Token = "test-admin-token-0123456789";
    private readonly TestDirectory _root = new("ospbridge-served");

    public void Dispose() => _root.Dispose();

    /// <summary>The device's origin: /api/status (JSON with the headers it saw), POST /echo, else 404.</summary>
    private static async Task<byte[]> AnswerAsync(HttpListenerRequest req, HttpListenerResponse res)
    {
        string path = req.Url!.AbsolutePath;
        if (path == "/api/status")
        {
            res.ContentType = "application/json";
            res.AddHeader("X-Origin", "test-origin");
            res.AddHeader("X-Saw-Authorization", req.Headers["Authorization"] ?? "none");
            return Encoding.UTF8.GetBytes("{\"ok\":true,\"name\":\"doorbell\"}");
        }
        if (path == "/echo" && req.HttpMethod == "POST")
        {
            using var ms = new MemoryStream();
            await req.InputStream.CopyToAsync(ms);
            res.ContentType = req.ContentType ?? "application/octet-stream";
            return ms.ToArray();
        }
        res.StatusCode = 404;
        return Encoding.UTF8.GetBytes("not found");
    }

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> DeviceAsync(HttpClient api, string name, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + Step;
        while (true)
        {
            var list = JsonDocument.Parse(await api.GetStringAsync("/api/devices")).RootElement;
            foreach (var d in list.EnumerateArray())
                if (d.GetProperty("name").GetString() == name && until(d)) return d.Clone();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"device '{name}' not in the wanted state: {list}");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task PairGatewaySignalingUnpairAndDisappear()
    {
        await using var origin = TestHttpOrigin.Start(AnswerAsync);

        string name = "Doorbell " + Guid.NewGuid().ToString("N")[..6];
        await using var agent = await CliChild.StartAgentAsync(name, _root["device"], Step, "--http-origin", origin.Url);
        var (serve, url) = await CliChild.StartServeAsync(_root["bridge"], Step, "--token", Token);
        await using var serveOwner = serve;
        using var api = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(90) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        // 1. Discovered, not paired; the gateway refuses it.
        var device = await DeviceAsync(api, name, d => d.GetProperty("online").GetBoolean());
        string id = device.GetProperty("id").GetString()!;
        Assert.False(device.GetProperty("paired").GetBoolean());
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync($"/devices/{id}/http/api/status")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await api.PostAsync($"/api/devices/{id}/pair", JsonBody("{\"pin\":\"123456\"}"))).StatusCode); // no pairing started

        // 2. Pairing: a wrong PIN is 403, then the right one is 200 (PINs read from the device's stdout).
        int from = agent.Lines.Count;
        var start = await api.PostAsync($"/api/devices/{id}/pair", JsonBody("{}"));
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, $"{start.StatusCode} {await start.Content.ReadAsStringAsync()} {serve.StandardError}");
        var (pinLine, pinIndex) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, from);
        string pin = pinLine["PIN: ".Length..].Trim();
        string wrongPin = new(pin.Select(c => char.IsAsciiDigit(c) ? (char)('0' + (c - '0' + 1) % 10) : c).ToArray());
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsync($"/api/devices/{id}/pair", JsonBody($"{{\"pin\":\"{wrongPin}\"}}"))).StatusCode);
        await Task.Delay(2500); // the device backs off after a failed attempt (1 s, doubling)
        start = await api.PostAsync($"/api/devices/{id}/pair", JsonBody("{}"));
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, $"{start.StatusCode} {await start.Content.ReadAsStringAsync()} {serve.StandardError}");
        (pinLine, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), Step, pinIndex + 1);
        var ok = await api.PostAsync($"/api/devices/{id}/pair", JsonBody($"{{\"pin\":\"{pinLine["PIN: ".Length..].Trim()}\"}}"));
        Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{ok.StatusCode} {await ok.Content.ReadAsStringAsync()} {serve.StandardError}");
        await agent.WaitForLineAsync(l => l.StartsWith("paired ", StringComparison.Ordinal), Step, from);
        device = await DeviceAsync(api, name, d => d.GetProperty("paired").GetBoolean());
        Assert.True(device.GetProperty("online").GetBoolean());

        // 3. REST gateway: JSON with the origin's headers, the bridge token not forwarded; a POST body echoed; 404 passed through.
        var status = await api.GetAsync($"/devices/{id}/http/api/status?x=1");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.Equal("test-origin", status.Headers.GetValues("X-Origin").Single());
        Assert.Equal("none", status.Headers.GetValues("X-Saw-Authorization").Single());
        Assert.Equal("doorbell", JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.GetProperty("name").GetString());
        var payload = new byte[300_000];
        new Random(3).NextBytes(payload);
        var echo = await api.PostAsync($"/devices/{id}/http/echo", new ByteArrayContent(payload) { Headers = { ContentType = new MediaTypeHeaderValue("application/x-test") } });
        Assert.Equal(HttpStatusCode.OK, echo.StatusCode);
        Assert.Equal(payload, await echo.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/devices/{id}/http/nothing-here")).StatusCode);
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => api.GetAsync($"/devices/{id}/http/api/status")));
        Assert.All(concurrent, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        // 4. WebSocket signaling: our RTCPeerConnection plays the browser, candidates trickled separately.
        await using (var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] }))
        {
            var channel = pc.CreateDataChannel("http-proxy");
            using var ws = new ClientWebSocket();
            ws.Options.SetRequestHeader("Authorization", "Bearer " + Token);
            await ws.ConnectAsync(new Uri($"ws://{url.Authority}/ws/{id}"), CancellationToken.None);
            var (sdp, candidates) = await OfferWithoutCandidatesAsync(pc);
            await SendAsync(ws, new JsonObject { ["type"] = "offer", ["sdp"] = sdp });
            foreach (string c in candidates) await SendAsync(ws, new JsonObject { ["type"] = "candidate", ["candidate"] = c, ["sdpMid"] = "0", ["sdpMLineIndex"] = 0 });
            await SendAsync(ws, new JsonObject { ["type"] = "candidate", ["candidate"] = "" });
            var answer = await ReceiveAsync(ws, m => (string?)m["type"] != "candidate");
            Assert.True((string?)answer["type"] == "answer", answer.ToJsonString());
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, (string)answer["sdp"]!));
            await channel.WaitOpenAsync().WaitAsync(Step);
            using var http = new HttpClient(new PeerFetchHandler(channel)) { BaseAddress = new Uri("http://localhost") };
            Assert.Contains("\"doorbell\"", await http.GetStringAsync("/api/status").WaitAsync(Step), StringComparison.Ordinal);
        }

        // 5. PeerJS signaling, as peerjs 1.5.5 speaks it.
        using (var peer = new ClientWebSocket())
        using (var other = new ClientWebSocket())
        using (var thief = new ClientWebSocket())
        {
            await peer.ConnectAsync(new Uri($"ws://{url.Authority}/peerjs/peerjs?key={Token}&id=browser-1&token=t1&version=1.5.5"), CancellationToken.None);
            Assert.Equal("OPEN", (string?)(await ReceiveAsync(peer, _ => true))["type"]);
            await thief.ConnectAsync(new Uri($"ws://{url.Authority}/peerjs/peerjs?key={Token}&id=browser-1&token=other&version=1.5.5"), CancellationToken.None);
            Assert.Equal("ID-TAKEN", (string?)(await ReceiveAsync(thief, _ => true))["type"]);
            await other.ConnectAsync(new Uri($"ws://{url.Authority}/peerjs?key={Token}&id=browser-2&token=t2&version=1.5.5"), CancellationToken.None);
            Assert.Equal("OPEN", (string?)(await ReceiveAsync(other, _ => true))["type"]);

            await SendAsync(peer, new JsonObject { ["type"] = "HEARTBEAT" });
            // Unknown destination: EXPIRE. Client to client: relayed in order with src stamped (a forged src is replaced).
            await SendAsync(peer, new JsonObject { ["type"] = "OFFER", ["dst"] = "nobody", ["payload"] = new JsonObject { ["connectionId"] = "dc_x" } });
            var expire = await ReceiveAsync(peer, _ => true);
            Assert.Equal("EXPIRE", (string?)expire["type"]);
            Assert.Equal("nobody", (string?)expire["src"]);
            for (int i = 0; i < 3; i++)
                await SendAsync(other, new JsonObject { ["type"] = "CANDIDATE", ["src"] = "forged", ["dst"] = "browser-1", ["payload"] = new JsonObject { ["n"] = i } });
            for (int i = 0; i < 3; i++)
            {
                var relayed = await ReceiveAsync(peer, _ => true);
                Assert.Equal("browser-2", (string?)relayed["src"]);
                Assert.Equal(i, (int)relayed["payload"]!["n"]!);
            }

            await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
            var channel = pc.CreateDataChannel("http-proxy");
            var (sdp, candidates) = await OfferWithoutCandidatesAsync(pc);
            await SendAsync(peer, new JsonObject
            {
                ["type"] = "OFFER",
                ["dst"] = id,
                ["payload"] = new JsonObject
                {
                    ["sdp"] = new JsonObject { ["type"] = "offer", ["sdp"] = sdp },
                    ["type"] = "data",
                    ["connectionId"] = "dc_test1",
                    ["label"] = "http-proxy",
                    ["reliable"] = true,
                    ["serialization"] = "raw",
                    ["browser"] = "chrome",
                },
            });
            foreach (string c in candidates)
                await SendAsync(peer, new JsonObject { ["type"] = "CANDIDATE", ["dst"] = id, ["payload"] = new JsonObject { ["candidate"] = new JsonObject { ["candidate"] = c, ["sdpMid"] = "0", ["sdpMLineIndex"] = 0 }, ["type"] = "data", ["connectionId"] = "dc_test1" } });
            var answer = await ReceiveAsync(peer, m => (string?)m["type"] != "HEARTBEAT");
            Assert.True((string?)answer["type"] == "ANSWER", answer.ToJsonString());
            Assert.Equal(id, (string?)answer["src"]);
            Assert.Equal("browser-1", (string?)answer["dst"]);
            Assert.Equal("dc_test1", (string?)answer["payload"]!["connectionId"]);
            Assert.Equal("answer", (string?)answer["payload"]!["sdp"]!["type"]);
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, (string)answer["payload"]!["sdp"]!["sdp"]!));
            await channel.WaitOpenAsync().WaitAsync(Step);
            using var http = new HttpClient(new PeerFetchHandler(channel)) { BaseAddress = new Uri("http://localhost") };
            Assert.Contains("\"doorbell\"", await http.GetStringAsync("/api/status").WaitAsync(Step), StringComparison.Ordinal);
        }

        // 6. Unpair: the gateway refuses again, the device shows unpaired.
        Assert.Equal(HttpStatusCode.OK, (await api.DeleteAsync($"/api/devices/{id}/pair")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync($"/devices/{id}/http/api/status")).StatusCode);
        Assert.False((await DeviceAsync(api, name, _ => true)).GetProperty("paired").GetBoolean());

        // 7. The device disappears (SIGTERM: mDNS goodbye): it shows offline, the gateway answers without hanging.
        agent.Terminate();
        await agent.WaitForExitAsync(Step);
        await DeviceAsync(api, name, d => !d.GetProperty("online").GetBoolean());
        var gone = await api.GetAsync($"/devices/{id}/http/api/status");
        Assert.True(gone.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Conflict, gone.StatusCode.ToString());
        Assert.False(serve.HasExited);
    }

    /// <summary>Creates the offer, waits for gathering, and splits the candidates out (a browser trickles them).</summary>
    private static async Task<(string Sdp, List<string> Candidates)> OfferWithoutCandidatesAsync(RTCPeerConnection pc)
    {
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync().WaitAsync(Step);
        string full = pc.LocalDescription!.Sdp;
        var lines = full.Split("\r\n");
        var candidates = lines.Where(l => l.StartsWith("a=candidate:", StringComparison.Ordinal)).Select(l => l[2..]).ToList();
        Assert.NotEmpty(candidates);
        string sdp = string.Join("\r\n", lines.Where(l => !l.StartsWith("a=candidate:", StringComparison.Ordinal) && !l.StartsWith("a=end-of-candidates", StringComparison.Ordinal)));
        return (sdp, candidates);
    }

    private static Task SendAsync(ClientWebSocket ws, JsonObject message) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonObject> ReceiveAsync(ClientWebSocket ws, Func<JsonObject, bool> wanted)
    {
        using var timeout = new CancellationTokenSource(Step);
        var buffer = new byte[512 * 1024];
        while (true)
        {
            int used = 0;
            WebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(buffer.AsMemory(used), timeout.Token) is var vr ? new WebSocketReceiveResult(vr.Count, vr.MessageType, vr.EndOfMessage) : null!;
                if (r.MessageType == WebSocketMessageType.Close) throw new WebSocketException("closed by the bridge");
                used += r.Count;
            }
            while (!r.EndOfMessage);
            var m = (JsonObject)JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, used))!;
            if (wanted(m)) return m;
        }
    }
}
