using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Bridge.Tests.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// WHEP and WHIP through the bridge (in process, real Kestrel on loopback) to a real device agent with the test
/// camera (<c>agent --camera test</c>, a child process; mDNS on lo), our RTCPeerConnection as the client posting its
/// offer without candidates and trickling them with PATCH: 201 + Location + ETag, the camera's video arrives, every
/// PATCH rule (412, 422 renegotiation, 415, 400, 204), ICE restart (PATCH with new credentials → 200 + the device's new
/// fragment + a new ETag; our client restarts too, a pair of the new ICE session is selected and the video keeps
/// coming), the per-device session limit (503), DELETE ends the
/// device's peer connection, an old session is reaped, and a device that disappears ends its sessions.
/// </summary>
public sealed class WhepDeviceTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private const string Token = "test-admin-token-0123456789";
    private readonly string _root = Directory.CreateTempSubdirectory("ospbridge-whepdev-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>System time plus an offset the test moves (session age).</summary>
    private sealed class MovableTime : TimeProvider
    {
        public TimeSpan Offset { get; set; }

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
    }

    private static StringContent Body(string text, string type) => new(text, Encoding.UTF8, new MediaTypeHeaderValue(type));

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what)
    {
        var deadline = DateTime.UtcNow + Step;
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(250);
        }
    }

    private static async Task<string> ExpectAsync(HttpStatusCode expected, HttpResponseMessage r)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {expected}, got {(int)r.StatusCode}: {body}");
        return body;
    }

    /// <summary>Our client: offer without candidates (as whip-whep posts it), the candidates kept to trickle.</summary>
    private static async Task<(RTCPeerConnection Pc, string Offer, List<string> Candidates)> ClientAsync(RTCRtpTransceiverDirection direction, params MediaKind[] kinds)
    {
        var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
        foreach (var k in kinds) await pc.AddTransceiverAsync(k, new RTCRtpTransceiverInit { Direction = direction });
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
        await pc.WaitForGatheringCompleteAsync().WaitAsync(Step);
        var lines = pc.LocalDescription!.Sdp.Split("\r\n");
        var candidates = lines.Where(l => l.StartsWith("a=candidate:", StringComparison.Ordinal)).Select(l => l[2..]).ToList();
        Assert.NotEmpty(candidates);
        string offer = string.Join("\r\n", lines.Where(l => !l.StartsWith("a=candidate:", StringComparison.Ordinal) && !l.StartsWith("a=end-of-candidates", StringComparison.Ordinal)));
        return (pc, offer, candidates);
    }

    private static string Attr(string sdp, string name) => sdp.Split("\r\n").First(l => l.StartsWith("a=" + name + ":", StringComparison.Ordinal))[(name.Length + 3)..];

    private static string Fragment(string offer, IEnumerable<string> candidates, string? ufrag = null, string? pwd = null)
    {
        string Attr(string name) => WhepDeviceTests.Attr(offer, name);
        var sb = new StringBuilder();
        sb.Append("a=ice-ufrag:").Append(ufrag ?? Attr("ice-ufrag")).Append("\r\n");
        sb.Append("a=ice-pwd:").Append(pwd ?? Attr("ice-pwd")).Append("\r\n");
        sb.Append("m=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:").Append(Attr("mid")).Append("\r\n");
        foreach (string c in candidates) sb.Append("a=").Append(c).Append("\r\n");
        sb.Append("a=end-of-candidates\r\n");
        return sb.ToString();
    }

    [Fact]
    public async Task WhepAndWhipToATestCamera()
    {
        string name = "Doorbell " + Guid.NewGuid().ToString("N")[..6];
        await using var agent = await CliChild.StartAgentAsync(name, Path.Combine(_root, "device"), Step, "--camera", "test");

        string state = Path.Combine(_root, "bridge");
        using var identity = AgentIdentity.LoadOrCreate(state, "Bridge whep");
        var time = new MovableTime();
        await using var devices = await BridgeApi.StartDevicesAsync(identity, state);
        await using var server = await BridgeServer.StartAsync(new BridgeServerOptions
        {
            Port = 0,
            Whep = new WhepSessionOptions { MaxPerDevice = 2, ReapInterval = TimeSpan.FromMilliseconds(500), Time = time },
        }, devices, BridgeTokens.Open(state, Token), NullLoggerFactory.Instance, CancellationToken.None);
        using var api = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(server.Url), Timeout = Step };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        // Discover and pair (PIN from the device's stdout).
        string id = await BridgeApi.DeviceIdAsync(api, name, Step);
        var (viewer0, offer0, _) = await ClientAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video, MediaKind.Audio);
        await using (viewer0)
            await ExpectAsync(HttpStatusCode.Forbidden, await api.PostAsync($"/whep/{id}", Body(offer0, "application/sdp"))); // not paired
        await BridgeApi.PairWithPinAsync(api, agent, id, Step);

        // WHEP: offer without candidates → 201 with the device's complete answer, Location, ETag.
        var (pc, offer, candidates) = await ClientAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video, MediaKind.Audio);
        await using var pcOwner = pc;
        var created = await api.PostAsync($"/whep/{id}", Body(offer, "application/sdp"));
        string answer = await ExpectAsync(HttpStatusCode.Created, created);
        Assert.Equal("application/sdp", created.Content.Headers.ContentType?.MediaType);
        string location = created.Headers.Location!.OriginalString;
        Assert.Matches($"^/whep/{id}/sessions/[A-Za-z0-9_-]{{22}}$", location);
        string etag = created.Headers.ETag!.ToString();
        Assert.Matches("^\"[A-Za-z0-9_-]{16}\"$", etag);
        Assert.Contains("m=video", answer, StringComparison.Ordinal);
        Assert.Contains("a=sendonly", answer, StringComparison.Ordinal);
        Assert.Contains("a=candidate:", answer, StringComparison.Ordinal); // the server's answer holds all its candidates
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));

        // PATCH rules, then the real trickle (204).
        HttpRequestMessage Patch(string body, string type, string? ifMatch)
        {
            var m = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Body(body, type) };
            if (ifMatch is not null) m.Headers.TryAddWithoutValidation("If-Match", ifMatch);
            return m;
        }
        string fragment = Fragment(offer, candidates);
        await ExpectAsync(HttpStatusCode.PreconditionFailed, await api.SendAsync(Patch(fragment, WhepEndpoint.SdpFragType, "\"stale\"")));
        await ExpectAsync(HttpStatusCode.BadRequest, await api.SendAsync(Patch("a=ice-ufrag:Zzzz\r\n", WhepEndpoint.SdpFragType, "*"))); // ICE restart without ice-pwd
        await ExpectAsync(HttpStatusCode.UnprocessableEntity, await api.SendAsync(Patch(offer, "application/sdp", etag))); // renegotiation
        await ExpectAsync(HttpStatusCode.UnsupportedMediaType, await api.SendAsync(Patch(fragment, "text/plain", etag)));
        await ExpectAsync(HttpStatusCode.BadRequest, await api.SendAsync(Patch("v=0\r\n", WhepEndpoint.SdpFragType, etag)));
        await ExpectAsync(HttpStatusCode.NoContent, await api.SendAsync(Patch(fragment, WhepEndpoint.SdpFragType, etag)));
        var get = await api.GetAsync(location);
        await ExpectAsync(HttpStatusCode.OK, get);
        Assert.Equal(etag, get.Headers.ETag!.ToString());

        // The camera's video arrives.
        var video = pc.GetTransceivers().Single(t => t.Kind == MediaKind.Video).Receiver;
        await EventuallyAsync(() => Task.FromResult<object?>(video.FramesReceived >= 10 ? video.FramesReceived : null), $"video frames: {video.FramesReceived}, state {pc.ConnectionState}");
        Assert.Equal(1, server.WhepSessions.CountFor(id));

        // ICE restart (RFC 9725 §4.3.2): our new credentials and candidates in a PATCH with If-Match "*" → 200 with the
        // device's new credentials and candidates and a new ETag; both sides restart, DTLS/SRTP stay, the video goes on.
        var oldPair = await EventuallyAsync(() => Task.FromResult(pc.SelectedCandidatePair), "no selected pair");
        var fresh = IceCredentials.Generate();
        var restarted = await api.SendAsync(Patch(Fragment(offer, candidates, fresh.Ufrag, fresh.Password), WhepEndpoint.SdpFragType, "*"));
        string deviceFragment = await ExpectAsync(HttpStatusCode.OK, restarted);
        Assert.Equal(WhepEndpoint.SdpFragType, restarted.Content.Headers.ContentType?.MediaType);
        string newEtag = restarted.Headers.ETag!.ToString();
        Assert.NotEqual(etag, newEtag);
        string deviceUfrag = Attr(deviceFragment, "ice-ufrag"), devicePwd = Attr(deviceFragment, "ice-pwd");
        Assert.NotEqual(Attr(answer, "ice-ufrag"), deviceUfrag);
        var deviceCandidates = deviceFragment.Split("\r\n").Where(l => l.StartsWith("a=candidate:", StringComparison.Ordinal)).Select(l => l[2..]).ToList();
        Assert.NotEmpty(deviceCandidates);
        await pc.RestartIceAsync(deviceUfrag, devicePwd, fresh.Ufrag, fresh.Password);
        Assert.Equal(fresh.Ufrag, Attr(pc.LocalDescription!.Sdp, "ice-ufrag")); // the description shows the credentials in use
        Assert.Equal(fresh.Password, Attr(pc.LocalDescription!.Sdp, "ice-pwd"));
        foreach (string c in deviceCandidates) await pc.AddIceCandidateAsync(new RTCIceCandidateInit(c));
        long framesAtRestart = video.FramesReceived;
        await EventuallyAsync(() => Task.FromResult<object?>(pc.SelectedCandidatePair is { } p && !ReferenceEquals(p, oldPair) ? p : null),
            $"no pair of the restarted ICE session was selected (ICE {pc.IceConnectionState})");
        await EventuallyAsync(() => Task.FromResult<object?>(video.FramesReceived >= framesAtRestart + 30 ? video.FramesReceived : null),
            $"video stopped after the ICE restart: {video.FramesReceived} frames, {framesAtRestart} at the restart, state {pc.ConnectionState}");
        Assert.Equal(RTCPeerConnectionState.Connected, pc.ConnectionState);
        await ExpectAsync(HttpStatusCode.PreconditionFailed, await api.SendAsync(Patch(fragment, WhepEndpoint.SdpFragType, etag))); // the old ETag
        etag = newEtag;
        fragment = Fragment(offer, candidates, fresh.Ufrag, fresh.Password);
        await ExpectAsync(HttpStatusCode.NoContent, await api.SendAsync(Patch(fragment, WhepEndpoint.SdpFragType, etag))); // trickle under the new credentials
        var afterRestart = await api.GetAsync(location);
        Assert.Equal(etag, afterRestart.Headers.ETag!.ToString());

        // WHIP (talk-back): the device's answer accepts the client's sendonly audio (recvonly on its side).
        var (publisher, publishOffer, _) = await ClientAsync(RTCRtpTransceiverDirection.SendOnly, MediaKind.Audio);
        await using var publisherOwner = publisher;
        var whip = await api.PostAsync($"/whip/{id}", Body(publishOffer, "application/sdp"));
        string whipAnswer = await ExpectAsync(HttpStatusCode.Created, whip);
        string whipLocation = whip.Headers.Location!.OriginalString;
        Assert.Matches($"^/whip/{id}/sessions/", whipLocation);
        Assert.Contains("m=audio", whipAnswer, StringComparison.Ordinal);
        Assert.Contains("a=recvonly", whipAnswer, StringComparison.Ordinal);
        await publisher.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, whipAnswer)); // no PATCH: the device learns our address from our checks
        await ExpectAsync(HttpStatusCode.NotFound, await api.DeleteAsync(whipLocation.Replace("/whip/", "/whep/", StringComparison.Ordinal))); // not a WHEP session

        // Per-device limit (2 here): 503 + Retry-After, no place leaked.
        var full = await api.PostAsync($"/whep/{id}", Body(offer, "application/sdp"));
        await ExpectAsync(HttpStatusCode.ServiceUnavailable, full);
        Assert.True(full.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        // DELETE: 200, the device's peer connection ends (its camera viewer leaves), then 404.
        int before = agent.Lines.Count;
        await ExpectAsync(HttpStatusCode.OK, await api.DeleteAsync(location));
        await agent.WaitForLineAsync(l => l.StartsWith("viewer ", StringComparison.Ordinal) && l.Contains(" left", StringComparison.Ordinal), Step, before);
        await ExpectAsync(HttpStatusCode.NotFound, await api.DeleteAsync(location));
        await ExpectAsync(HttpStatusCode.NotFound, await api.SendAsync(Patch(fragment, WhepEndpoint.SdpFragType, etag)));

        // Reaping: a session older than MaxAge ends (and the device is told).
        Assert.Equal(1, server.WhepSessions.CountFor(id));
        time.Offset = TimeSpan.FromHours(13);
        await EventuallyAsync(async () => (await api.GetAsync(whipLocation)).StatusCode == HttpStatusCode.NotFound ? "gone" : null, "old WHIP session not reaped");
        time.Offset = TimeSpan.Zero;

        // The device disappears: its sessions end (DELETE → 404), a new POST gets 409 + Retry-After.
        var (last, lastOffer, _) = await ClientAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video);
        await using var lastOwner = last;
        var again = await api.PostAsync($"/whep/{id}", Body(lastOffer, "application/sdp"));
        await ExpectAsync(HttpStatusCode.Created, again);
        string lastLocation = again.Headers.Location!.OriginalString;
        agent.Terminate();
        await agent.WaitForExitAsync(Step);
        await EventuallyAsync(async () => (await api.GetAsync(lastLocation)).StatusCode == HttpStatusCode.NotFound ? "gone" : null, "session outlived its device");
        await ExpectAsync(HttpStatusCode.NotFound, await api.DeleteAsync(lastLocation));
        Assert.Equal(0, server.WhepSessions.Count);
        var offline = await EventuallyAsync(async () =>
        {
            var r = await api.PostAsync($"/whep/{id}", Body(lastOffer, "application/sdp"));
            return r.StatusCode == HttpStatusCode.Conflict ? r : null;
        }, "POST to a vanished device did not give 409");
        Assert.True(offline.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }
}
