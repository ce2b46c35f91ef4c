using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// WHEP/WHIP HTTP rules of <c>ospbridge serve</c> that need no device (real Kestrel on loopback, in process): CORS
/// preflight, 401, 415, 400, 422, 404, 405, 409 + Retry-After for a trusted device that is offline, 429 rate limit,
/// and HTTPS with the certificate made from the agent key (pinned by its SPKI = the agent fingerprint).
/// </summary>
public sealed class WhepHttpTests : IDisposable
{
    private const string Token = "test-admin-token-0123456789";
    private readonly string _root = Directory.CreateTempSubdirectory("ospbridge-whep-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private sealed class Bridge : IAsyncDisposable
    {
        public required AgentIdentity Identity { get; init; }
        public required DeviceRegistry Devices { get; init; }
        public required BridgeServer Server { get; init; }
        public required Osp.Trust.OspTrustStore Trust { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Devices.DisposeAsync();
            Identity.Dispose();
        }
    }

    private async Task<Bridge> StartAsync(string name, Func<AgentIdentity, BridgeServerOptions> options)
    {
        string state = Path.Combine(_root, name);
        var identity = AgentIdentity.LoadOrCreate(state, "Bridge " + name);
        var trust = PeerTrust.Open(state);
        var devices = new DeviceRegistry(identity, trust, ["lo"], NullLoggerFactory.Instance);
        var server = await BridgeServer.StartAsync(options(identity), devices, BridgeTokens.Open(state, Token), NullLoggerFactory.Instance, CancellationToken.None);
        return new Bridge { Identity = identity, Devices = devices, Server = server, Trust = trust };
    }

    private static HttpClient Client(string url, string? token = Token, HttpMessageHandler? handler = null)
    {
        var c = new HttpClient(handler ?? new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    /// <summary>An offer as a WHEP player (recvonly video + audio) or WHIP publisher (sendonly audio) makes it, from our RTCPeerConnection.</summary>
    internal static async Task<string> OfferAsync(RTCRtpTransceiverDirection direction, params MediaKind[] kinds)
    {
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
        foreach (var k in kinds) await pc.AddTransceiverAsync(k, new RTCRtpTransceiverInit { Direction = direction });
        return (await pc.CreateOfferAsync()).Sdp;
    }

    private static StringContent Sdp(string sdp, string type = "application/sdp") => new(sdp, Encoding.UTF8, new MediaTypeHeaderValue(type));

    private static async Task AssertStatusAsync(HttpStatusCode expected, HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode} {body}");
    }

    [Fact]
    public async Task StatusCodesCorsAndOfflineDevice()
    {
        await using var bridge = await StartAsync("codes", _ => new BridgeServerOptions { Port = 0 });
        string url = bridge.Server.Url;
        using var api = Client(url);
        using var anon = Client(url, token: null);
        using var wrong = Client(url, token: "wrong-token-wrong-token");
        string viewOffer = await OfferAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video, MediaKind.Audio);
        string publishOffer = await OfferAsync(RTCRtpTransceiverDirection.SendOnly, MediaKind.Audio);

        // CORS preflight: no credential needed; methods, Accept-Post / Accept-Patch, exposed headers.
        foreach (string path in (string[])["/whep/abc", "/whip/abc"])
        {
            using var pre = new HttpRequestMessage(HttpMethod.Options, path);
            pre.Headers.Add("Origin", "https://player.example");
            pre.Headers.Add("Access-Control-Request-Method", "POST");
            pre.Headers.Add("Access-Control-Request-Headers", "authorization, content-type");
            var r = await anon.SendAsync(pre);
            await AssertStatusAsync(HttpStatusCode.NoContent, r);
            Assert.Equal("application/sdp", r.Headers.GetValues("Accept-Post").Single());
            Assert.Equal("*", r.Headers.GetValues("Access-Control-Allow-Origin").Single());
            string exposed = r.Headers.GetValues("Access-Control-Expose-Headers").Single();
            foreach (string h in (string[])["Location", "ETag", "Link", "Accept-Patch"]) Assert.Contains(h, exposed, StringComparison.Ordinal);
            Assert.Contains("POST", r.Headers.GetValues("Access-Control-Allow-Methods").Single(), StringComparison.Ordinal);
            Assert.Contains("Authorization", r.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.Ordinal);
        }
        var sessionPre = await anon.SendAsync(new HttpRequestMessage(HttpMethod.Options, "/whep/abc/sessions/xyz"));
        await AssertStatusAsync(HttpStatusCode.NoContent, sessionPre);
        Assert.Equal(WhepEndpoint.SdpFragType, sessionPre.Headers.GetValues("Accept-Patch").Single());
        Assert.Contains("PATCH", sessionPre.Content.Headers.Allow, StringComparer.Ordinal);

        // 401 without or with a wrong token, readable cross-origin (CORS header on the error too).
        var noToken = await anon.PostAsync("/whep/abc", Sdp(viewOffer));
        await AssertStatusAsync(HttpStatusCode.Unauthorized, noToken);
        Assert.Equal("*", noToken.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.StartsWith("Bearer", noToken.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        await AssertStatusAsync(HttpStatusCode.Unauthorized, await wrong.PostAsync("/whip/abc", Sdp(publishOffer)));
        await AssertStatusAsync(HttpStatusCode.Unauthorized, await anon.DeleteAsync("/whep/abc/sessions/xyz"));

        // 415 wrong content type, 400 bad SDP, 422 valid SDP that is not a WHEP/WHIP offer.
        await AssertStatusAsync(HttpStatusCode.UnsupportedMediaType, await api.PostAsync("/whep/abc", Sdp(viewOffer, "text/plain")));
        await AssertStatusAsync(HttpStatusCode.UnsupportedMediaType, await api.PostAsync("/whip/abc", new StringContent("{}", Encoding.UTF8, "application/json")));
        await AssertStatusAsync(HttpStatusCode.BadRequest, await api.PostAsync("/whep/abc", Sdp("this is not sdp")));
        await AssertStatusAsync(HttpStatusCode.BadRequest, await api.PostAsync("/whep/abc", Sdp("")));
        await AssertStatusAsync(HttpStatusCode.UnprocessableEntity, await api.PostAsync("/whep/abc", Sdp(publishOffer))); // sendonly to WHEP
        await AssertStatusAsync(HttpStatusCode.UnprocessableEntity, await api.PostAsync("/whip/abc", Sdp(viewOffer))); // recvonly to WHIP
        string twoVideos = await OfferAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video, MediaKind.Video);
        await AssertStatusAsync(HttpStatusCode.UnprocessableEntity, await api.PostAsync("/whep/abc", Sdp(twoVideos)));
        await AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, await api.PostAsync("/whep/abc", Sdp(new string('a', TrickleOffer.MaxSdpLength + 10))));

        // 404 unknown device / session, 405 other methods.
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.PostAsync("/whep/abc", Sdp(viewOffer)));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.GetAsync("/whep/abc"));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.DeleteAsync("/whep/abc/sessions/xyz"));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.PatchAsync("/whip/abc/sessions/xyz", Sdp(WhepSdpFragmentTests.Medooze, WhepEndpoint.SdpFragType)));
        var put = await api.PutAsync("/whep/abc", Sdp(viewOffer));
        await AssertStatusAsync(HttpStatusCode.MethodNotAllowed, put);
        Assert.Contains("POST", put.Content.Headers.Allow, StringComparer.Ordinal);

        // A paired device that is offline: GET/HEAD 200 on its endpoint, POST 409 + Retry-After (the player retries).
        string fp = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        bridge.Trust.RecordAuthenticated(fp, "Porch camera");
        string id = PeerTrust.IdOf(fp);
        await AssertStatusAsync(HttpStatusCode.OK, await api.GetAsync($"/whep/{id}"));
        var head = await api.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/whep/{id}"));
        await AssertStatusAsync(HttpStatusCode.OK, head);
        Assert.Equal("application/sdp", head.Content.Headers.ContentType?.MediaType);
        var offline = await api.PostAsync($"/whep/{id}", Sdp(viewOffer));
        await AssertStatusAsync(HttpStatusCode.Conflict, offline);
        Assert.True(offline.Headers.RetryAfter?.Delta > TimeSpan.Zero, "409 needs Retry-After");
        await AssertStatusAsync(HttpStatusCode.Conflict, await api.PostAsync($"/whip/{id}", Sdp(publishOffer)));
        Assert.Equal(0, bridge.Server.WhepSessions.Count); // failed POSTs leave no session and no reserved place
        Assert.Equal(0, bridge.Server.WhepSessions.CountFor(id));
    }

    [Fact]
    public async Task PostPatchAndDeleteAreRateLimited()
    {
        await using var bridge = await StartAsync("rate", _ => new BridgeServerOptions { Port = 0, MutationsPerWindow = 4, MutationWindow = TimeSpan.FromMinutes(5) });
        using var api = Client(bridge.Server.Url);
        string offer = await OfferAsync(RTCRtpTransceiverDirection.RecvOnly, MediaKind.Video);
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.PostAsync("/whep/abc", Sdp(offer)));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.PatchAsync("/whep/abc/sessions/x", Sdp(WhepSdpFragmentTests.Medooze, WhepEndpoint.SdpFragType)));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.DeleteAsync("/whep/abc/sessions/x"));
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.PostAsync("/whep/abc", Sdp(offer)));
        foreach (var attempt in (Func<Task<HttpResponseMessage>>[])[
            () => api.PostAsync("/whep/abc", Sdp(offer)),
            () => api.PatchAsync("/whep/abc/sessions/x", Sdp(WhepSdpFragmentTests.Medooze, WhepEndpoint.SdpFragType)),
            () => api.DeleteAsync("/whip/abc/sessions/x")])
        {
            var limited = await attempt();
            await AssertStatusAsync(HttpStatusCode.TooManyRequests, limited);
            Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 needs Retry-After");
        }
        await AssertStatusAsync(HttpStatusCode.NotFound, await api.GetAsync("/whep/abc")); // reads are not limited
    }

    [Fact]
    public async Task HttpsWithTheAgentKeyPinnedByFingerprint()
    {
        string state = Path.Combine(_root, "https");
        using (var first = AgentIdentity.LoadOrCreate(state, "Bridge https"))
        {
            using var a = HttpsCertificate.LoadOrCreate(first, state, IPAddress.Loopback, TimeProvider.System);
            using var b = HttpsCertificate.LoadOrCreate(first, state, IPAddress.Loopback, TimeProvider.System);
            Assert.Equal(a.Thumbprint, b.Thumbprint); // kept across restarts: a browser's trust survives
            Assert.Equal(first.Fingerprint, HttpsCertificate.SpkiSha256(a)); // SPKI pin = agent fingerprint
            var san = a.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
            Assert.Contains(IPAddress.Loopback, san.EnumerateIPAddresses());
            Assert.Contains("localhost", san.EnumerateDnsNames());
            Assert.True(a.HasPrivateKey);
            Assert.Matches("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", HttpsCertificate.Sha256(a));
        }

        X509Certificate2? certificate = null;
        await using var bridge = await StartAsync("https", id =>
        {
            certificate = HttpsCertificate.LoadOrCreate(id, Path.Combine(_root, "https"), IPAddress.Loopback, TimeProvider.System);
            return new BridgeServerOptions { Port = 0, Certificate = certificate };
        });
        using var owned = certificate;
        Assert.StartsWith("https://127.0.0.1:", bridge.Server.Url, StringComparison.Ordinal);
        string pin = bridge.Identity.Fingerprint;
        string? seen = null;
        var pinned = new SocketsHttpHandler
        {
            UseCookies = false,
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    if (cert is null) return false;
                    using var c2 = X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
                    seen = Convert.ToBase64String(SHA256.HashData(c2.PublicKey.ExportSubjectPublicKeyInfo()));
                    return seen == pin;
                },
            },
        };
        using var api = Client(bridge.Server.Url, handler: pinned);
        var r = await api.GetAsync("/api/bridge");
        await AssertStatusAsync(HttpStatusCode.OK, r);
        Assert.Equal(pin, seen);
        Assert.Equal(pin, System.Text.Json.JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("fp").GetString());

        // Without the pin (the system's trust), the self-signed certificate is refused.
        using var unpinned = Client(bridge.Server.Url);
        await Assert.ThrowsAsync<HttpRequestException>(() => unpinned.GetAsync("/api/bridge"));
    }
}
