using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// A WHEP session belongs to the browser token that created it (docs/bridge.md, revocation): revoking that token ends
/// the session like a DELETE — the resource is gone (404) and the device is told to close its peer connection (the
/// agent prints <c>viewer … left</c>) — while a session created with another credential (here the admin token) plays on.
/// Real device agent with the test camera (child process, mDNS on lo), the bridge in process on loopback.
/// </summary>
public sealed class WhepTokenRevocationTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    /// <summary>How long the revoked session may take to end here (the product ends it at once; the bound is for a loaded machine).</summary>
    private static readonly TimeSpan Bite = TimeSpan.FromSeconds(5);

    private const string Token = "whep-revoke-admin-token-0123456789";
    private readonly string _root = Directory.CreateTempSubdirectory("ospbridge-wheprevoke-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static StringContent Body(string text, string type) => new(text, Encoding.UTF8, new MediaTypeHeaderValue(type));

    private static HttpClient Client(string url, string? bearer)
    {
        var c = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(url), Timeout = Step };
        if (bearer is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return c;
    }

    private static async Task<string> ExpectAsync(HttpStatusCode expected, HttpResponseMessage r)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {expected}, got {(int)r.StatusCode}: {body}");
        return body;
    }

    /// <summary>A recvonly video+audio viewer: its offer (with its candidates: no trickle needed on loopback).</summary>
    private static async Task<(RTCPeerConnection Pc, string Offer)> ViewerAsync()
    {
        var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
        foreach (var k in new[] { MediaKind.Video, MediaKind.Audio })
            await pc.AddTransceiverAsync(k, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync().WaitAsync(Step);
        return (pc, pc.LocalDescription!.Sdp);
    }

    private static async Task<(RTCPeerConnection Pc, string Location)> WatchAsync(HttpClient client, string deviceId)
    {
        var (pc, offer) = await ViewerAsync();
        var created = await client.PostAsync($"/whep/{deviceId}", Body(offer, "application/sdp"));
        string answer = await ExpectAsync(HttpStatusCode.Created, created);
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
        var video = pc.GetTransceivers().Single(t => t.Kind == MediaKind.Video).Receiver;
        var clock = Stopwatch.StartNew();
        while (video.FramesReceived < 10 && clock.Elapsed < Step) await Task.Delay(100);
        Assert.True(video.FramesReceived >= 10, $"video frames before the revoke: {video.FramesReceived}, state {pc.ConnectionState}");
        return (pc, created.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Revoking_the_browser_token_ends_its_whep_session_and_only_that_one()
    {
        string name = "Revoke whep " + Guid.NewGuid().ToString("N")[..6];
        await using var agent = await CliChild.StartAgentAsync(name, Path.Combine(_root, "device"), Step, "--camera", "test");

        string state = Path.Combine(_root, "bridge");
        using var identity = AgentIdentity.LoadOrCreate(state, "Bridge whep revoke");
        await using var devices = await BridgeApi.StartDevicesAsync(identity, state);
        await using var server = await BridgeServer.StartAsync(new BridgeServerOptions { Port = 0 },
            devices, BridgeTokens.Open(state, Token), NullLoggerFactory.Instance, CancellationToken.None);
        using var admin = Client(server.Url, Token);
        using var anon = Client(server.Url, bearer: null);

        string id = await BridgeApi.DeviceIdAsync(admin, name, Step);
        await BridgeApi.PairWithPinAsync(admin, agent, id, Step);

        // A browser logs in (its own revocable token) and watches; the admin token watches too.
        var login = await anon.PostAsync("/api/login", Body($"{{\"token\":\"{Token}\"}}", "application/json"));
        await ExpectAsync(HttpStatusCode.OK, login);
        string browserToken = login.Headers.GetValues("Set-Cookie").Single().Split(';')[0]["ospbridge_session=".Length..];
        string browserId = JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        using var browser = Client(server.Url, browserToken);
        var (browserPc, browserLocation) = await WatchAsync(browser, id);
        await using var browserPcOwner = browserPc;
        var (adminPc, adminLocation) = await WatchAsync(admin, id);
        await using var adminPcOwner = adminPc;
        Assert.Equal(2, server.WhepSessions.CountFor(id));
        await ExpectAsync(HttpStatusCode.OK, await admin.GetAsync(browserLocation));

        // Revoke the browser's token: its session ends (404 from now on, the device closes that viewer); the admin's plays on.
        int from = agent.Lines.Count;
        var clock = Stopwatch.StartNew();
        await ExpectAsync(HttpStatusCode.NoContent, await admin.DeleteAsync("/api/tokens/" + browserId));
        while (server.WhepSessions.CountFor(id) != 1 && clock.Elapsed < Bite) await Task.Delay(50);
        var ended = clock.Elapsed;
        Assert.True(server.WhepSessions.CountFor(id) == 1, $"sessions with the device {ended.TotalMilliseconds:F0} ms after the revoke: {server.WhepSessions.CountFor(id)} (expected the admin's alone)");
        await ExpectAsync(HttpStatusCode.NotFound, await admin.GetAsync(browserLocation));
        await ExpectAsync(HttpStatusCode.OK, await admin.GetAsync(adminLocation));
        var (left, _) = await agent.WaitForLineAsync(l => l.StartsWith("viewer ", StringComparison.Ordinal) && l.Contains(" left", StringComparison.Ordinal), Step, from);
        Assert.True(clock.Elapsed < Step, $"the device closed the revoked viewer: '{left}' after {clock.Elapsed.TotalMilliseconds:F0} ms");

        var video = adminPc.GetTransceivers().Single(t => t.Kind == MediaKind.Video).Receiver;
        long before = video.FramesReceived;
        var wait = Stopwatch.StartNew();
        while (video.FramesReceived < before + 30 && wait.Elapsed < Step) await Task.Delay(100);
        Assert.True(video.FramesReceived >= before + 30, $"the admin's viewer stopped after the browser token was revoked: {video.FramesReceived} frames, {before} at the revoke, state {adminPc.ConnectionState}");
    }
}
