using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace OspBridge.PeerFetch.Tests;

/// <summary>PeerFetch v2 end to end: HttpClient → PeerFetchHandler → channel → PeerFetchDevice → Kestrel on 127.0.0.1.</summary>
public class ProxyTests
{
    public static TheoryData<string> Transports => new() { "memory", "webrtc", "quic" };

    /// <summary>The real transports (a data channel and LP2P QUIC): the heavy checks run once on each.</summary>
    public static TheoryData<string> RealTransports => new() { "webrtc", "quic" };

    /// <summary>In memory (the mux) and over LP2P QUIC (one stream per request): the device logic on both code paths.</summary>
    public static TheoryData<string> MuxAndQuic => new() { "memory", "quic" };

    [Theory]
    [MemberData(nameof(RealTransports))]
    public async Task Get_200MB_byte_exact(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        const long size = 200L << 20;
        using var response = await rig.Http.GetAsync($"stream/{size}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = await response.Content.ReadAsStreamAsync();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 << 10];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0) { sha.AppendData(buffer, 0, n); total += n; }
        Assert.Equal(size, total);
        Assert.Equal(Origin.StreamHash(size), sha.GetHashAndReset());
    }

    [Fact]
    public async Task Quic_access_log_has_one_line_per_request_with_peer_method_path_status_bytes_ms()
    {
        await using var rig = await Rig.StartAsync("quic");
        Assert.Equal(Bodies.Make(1234), await rig.Http.GetByteArrayAsync("bytes/1234"));
        using (var r = await rig.Http.PostAsync("echo", new ByteArrayContent(Bodies.Make(10)))) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        List<string> lines = [];
        for (int i = 0; i < 50 && (lines = rig.AccessLog()).Count < 2; i++) await Task.Delay(50);
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"peerfetch peer-1 v2/quic GET /bytes/1234 -> 200 1234B \d+ms ok", lines[0]);
        Assert.Matches(@"peerfetch peer-1 v2/quic POST /echo -> 200 10B \d+ms ok", lines[1]);
    }

    [Fact]
    public async Task Quic_from_a_peer_without_a_granted_LP2P_connection_never_reaches_the_device()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var server = Link.Agent("Device");
        await using var listener = await OspBridge.Osp.Lp2p.LP2P.MakeDiscoverableAsync(new OspBridge.Osp.Lp2p.LP2PReceiverOptions
        {
            Agent = server,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Grants = OspBridge.Osp.Lp2p.LP2PGrantPolicies.DenyAll,
        }, cts.Token);
        await listener.Ready;
        var at = listener.Receiver.LocalEndPoint;
        var peer = new OspBridge.Osp.Discovery.OspAgentInfo("Device", server.Identity.Hostname + ".", (ushort)at.Port, [at.Address],
            new OspBridge.Osp.Discovery.OspTxt(server.Identity.Fingerprint, 1, server.Identity.AuthToken, server.Identity.SerialBase64Url));
        var incoming = listener.AcceptTransportAsync(cts.Token).AsTask();
        bool requestWentThrough = false;
        using (var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await using var transport = await OspBridge.Osp.Lp2p.LP2P.ConnectAsync(new OspBridge.Osp.Lp2p.LP2PRequestOptions { Agent = Link.Agent("Stranger"), Peer = peer }, null, attempt.Token);
                using var http = new HttpClient(new PeerFetchHandler(new OspBridge.Bridge.Pairing.Lp2pQuicPeerFetchConnection(transport)), disposeHandler: false) { Timeout = TimeSpan.FromSeconds(5) };
                using var r = await http.GetAsync("http://localhost/json", attempt.Token);
                requestWentThrough = true;
            }
            catch (Exception ex) when (ex is OspBridge.Osp.OspException or OperationCanceledException or HttpRequestException)
            {
                // refused: the LP2P connection is closed by the receiver, the q2q connection with it
            }
        }
        Assert.False(requestWentThrough);
        Assert.False(incoming.IsCompleted, "the device was handed a transport from a peer it did not grant");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Get_1KB_and_10MB_byte_exact(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        var small = await rig.Http.GetByteArrayAsync("bytes/1024");
        Assert.Equal(Bodies.Make(1024), small);
        Assert.Equal(PeerFetchProtocol.V2, rig.Handler.Protocol);

        using var response = await rig.Http.GetAsync("bytes/10485760", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        using var body = await response.Content.ReadAsStreamAsync();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[100_000];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0) { sha.AppendData(buffer, 0, n); total += n; }
        Assert.Equal(10485760, total);
        Assert.Equal(SHA256.HashData(Bodies.Make(10485760)), sha.GetHashAndReset());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Post_and_put_large_bodies_echoed_byte_exact(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        int postSize = kind is "memory" or "quic" ? 50 << 20 : 8 << 20;
        var post = Bodies.Make(postSize, seed: 7);
        using (var content = new ByteArrayContent(post))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-test");
            using var r = await rig.Http.PostAsync("echo", content);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("application/x-test", r.Content.Headers.ContentType?.MediaType);
            Assert.Equal(SHA256.HashData(post), SHA256.HashData(await r.Content.ReadAsByteArrayAsync()));
        }
        // PUT with a streamed body of unknown length (chunked both ways).
        var put = Bodies.Make(kind == "quic" ? 50 << 20 : 3 << 20, seed: 9);
        using var putContent = new StreamContent(new NonSeekable(put));
        using var putResponse = await rig.Http.PutAsync("echo", putContent);
        Assert.Equal(HttpStatusCode.OK, putResponse.StatusCode);
        Assert.Equal(put, await putResponse.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Put_50MB_streamed_over_real_data_channel()
    {
        await using var rig = await Rig.StartAsync("webrtc");
        var put = Bodies.Make(50 << 20, seed: 3);
        using var content = new StreamContent(new NonSeekable(put));
        using var r = await rig.Http.PutAsync("echo", content);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(SHA256.HashData(put), SHA256.HashData(await r.Content.ReadAsByteArrayAsync()));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Sixty_four_concurrent_requests(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        var tasks = Enumerable.Range(0, 64).Select(async i =>
        {
            var b = await rig.Http.GetByteArrayAsync($"bytes/{1000 + (i * 997)}");
            Assert.Equal(Bodies.Make(1000 + (i * 997)), b);
        }).ToList();
        await Task.WhenAll(tasks);
        Assert.True(rig.Origin.Requests >= 64);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Slow_origin_does_not_block_other_requests(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        var slow = rig.Http.GetStringAsync("slow?ms=4000");
        var start = TimeProvider.System.GetTimestamp();
        for (int i = 0; i < 10; i++) Assert.Equal(Bodies.Make(2000), await rig.Http.GetByteArrayAsync("bytes/2000"));
        Assert.False(slow.IsCompleted);
        Assert.True(TimeProvider.System.GetElapsedTime(start) < TimeSpan.FromSeconds(3.5), "fast requests waited for the slow one");
        Assert.Equal("slow done", await slow);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Client_cancel_stops_the_origin_request(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        using var cts = new CancellationTokenSource();
        var request = rig.Http.GetAsync("wait-abort", cts.Token);
        await rig.Origin.WaitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await rig.Origin.WaitAborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The channel stays usable.
        Assert.Equal("{\"hello\":\"world\"}", await rig.Http.GetStringAsync("json"));
        for (int i = 0; i < 50 && rig.Device.ActiveRequests("peer-1") != 0; i++) await Task.Delay(100);
        Assert.Equal(0, rig.Device.ActiveRequests("peer-1"));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Origin_down_is_502_and_outside_allow_list_is_403(string kind)
    {
        int dead = Origin.DeadPort();
        await using var rig = await Rig.StartAsync(kind, o =>
        [
            new PeerFetchOrigin(o.Uri) { AllowedPathPrefixes = ["/api", "/json"] },
            new PeerFetchOrigin(new Uri($"http://127.0.0.1:{dead}")) { HostNames = ["down.local"] },
        ]);
        Assert.Equal("{\"hello\":\"api\"}", await rig.Http.GetStringAsync("api/json"));
        using (var r = await rig.Http.GetAsync("secret")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await rig.Http.GetAsync("api/../secret")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await rig.Http.GetAsync("api/%2e%2e/secret")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await rig.Http.GetAsync("apix")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        // The URL's host only names an origin: an unknown host is refused, never dialled (no open proxy).
        using (var r = await rig.Http.GetAsync($"http://example.com:{rig.Origin.Uri.Port}/api/json")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        int before = rig.Origin.Requests;
        using (var r = await rig.Http.GetAsync("http://down.local/anything"))
        {
            Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
            Assert.Contains("unreachable", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(before, rig.Origin.Requests);
    }

    /// <summary>
    /// A body of known length reaches the origin with Content-Length, not chunked: many device REST servers (Python's
    /// http.server, embedded ones) read no chunked uploads. Found by hand in session 13: HttpContent computes its length
    /// lazily, the head was built from the non-validated header view, and the 3 MB POST arrived at Python as 0 bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Known_length_bodies_reach_the_origin_with_content_length(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        var body = Bodies.Make(300_000, seed: 11);
        using (var r = await rig.Http.PostAsync("framing", new ByteArrayContent(body)))
        {
            var h = JsonSerializer.Deserialize<Dictionary<string, string>>(await r.Content.ReadAsStringAsync())!;
            Assert.Equal("300000", h["content-length"]);
            Assert.Equal("", h["transfer-encoding"]);
            Assert.Equal("300000", h["read"]);
        }
        // Unknown length (a non-seekable stream): chunked is the only way, and it must still arrive whole.
        using (var r = await rig.Http.PutAsync("framing", new StreamContent(new NonSeekable(body))))
        {
            var h = JsonSerializer.Deserialize<Dictionary<string, string>>(await r.Content.ReadAsStringAsync())!;
            Assert.Equal("", h["content-length"]);
            Assert.Equal("chunked", h["transfer-encoding"]);
            Assert.Equal("300000", h["read"]);
        }
    }

    [Fact]
    public async Task Headers_pass_through_hop_by_hop_removed_and_status_codes_kept()
    {
        await using var rig = await Rig.StartAsync("memory");
        using var req = new HttpRequestMessage(HttpMethod.Get, "headers");
        req.Headers.Add("X-Custom", "v1");
        req.Headers.Add("Connection", "X-Private");
        req.Headers.Add("X-Private", "secret");
        req.Headers.Add("Keep-Alive", "timeout=5");
        using var r = await rig.Http.SendAsync(req);
        var h = JsonSerializer.Deserialize<Dictionary<string, string>>(await r.Content.ReadAsStringAsync())!;
        Assert.Equal("v1", h["x-custom"]);
        Assert.False(h.ContainsKey("x-private"));
        Assert.False(h.ContainsKey("keep-alive"));
        Assert.Equal($"127.0.0.1:{rig.Origin.Uri.Port}", h["host"]);
        using (var r2 = await rig.Http.GetAsync("status/418")) { Assert.Equal((HttpStatusCode)418, r2.StatusCode); Assert.Equal("status 418", await r2.Content.ReadAsStringAsync()); }
        using (var r3 = await rig.Http.GetAsync("nocontent")) { Assert.Equal(HttpStatusCode.NoContent, r3.StatusCode); Assert.Empty(await r3.Content.ReadAsByteArrayAsync()); }
        using var r4 = await rig.Http.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "echo"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, r4.StatusCode);
    }

    [Theory]
    [MemberData(nameof(MuxAndQuic))]
    public async Task Per_peer_limits_answer_429_and_413(string kind)
    {
        await using var rig = await Rig.StartAsync(kind, options: new PeerFetchDeviceOptions { MaxConcurrentRequestsPerPeer = 2, MaxRequestBodySize = 1 << 20 });
        var slow = new[] { rig.Http.GetAsync("slow?ms=1500"), rig.Http.GetAsync("slow?ms=1500") };
        for (int i = 0; i < 50 && rig.Device.ActiveRequests("peer-1") < 2; i++) await Task.Delay(20);
        using (var r = await rig.Http.GetAsync("json"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.NotNull(r.Headers.RetryAfter);
        }
        foreach (var s in slow) using (var r = await s) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        // Declared too large.
        using (var r = await rig.Http.PostAsync("echo", new ByteArrayContent(new byte[(1 << 20) + 1]))) Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        // Streamed (no Content-Length) and too large.
        using (var r = await rig.Http.PostAsync("echo", new StreamContent(new NonSeekable(new byte[3 << 20])))) Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        // Still usable afterwards.
        Assert.Equal("{\"hello\":\"world\"}", await rig.Http.GetStringAsync("json"));
    }

    [Theory]
    [MemberData(nameof(MuxAndQuic))]
    public async Task Rate_limit_answers_429(string kind)
    {
        await using var rig = await Rig.StartAsync(kind, options: new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0.05, RequestBurstPerPeer = 3 });
        var codes = new List<HttpStatusCode>();
        for (int i = 0; i < 6; i++) using (var r = await rig.Http.GetAsync("json")) codes.Add(r.StatusCode);
        Assert.Equal(3, codes.Count(c => c == HttpStatusCode.OK));
        Assert.Contains(HttpStatusCode.TooManyRequests, codes);
    }

    [Theory]
    [MemberData(nameof(MuxAndQuic))]
    public async Task Timeout_resets_the_request(string kind)
    {
        await using var rig = await Rig.StartAsync(kind);
        using var http = new HttpClient(rig.Handler, disposeHandler: false) { BaseAddress = rig.Http.BaseAddress, Timeout = TimeSpan.FromMilliseconds(500) };
        await Assert.ThrowsAnyAsync<TaskCanceledException>(() => http.GetStringAsync("wait-abort"));
        await rig.Origin.WaitAborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}

/// <summary>A read-only, non-seekable stream (forces chunked/unknown-length uploads).</summary>
internal sealed class NonSeekable(byte[] data) : Stream
{
    private int _pos;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _pos; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = Math.Min(count, Math.Min(data.Length - _pos, 100_000));
        Array.Copy(data, _pos, buffer, offset, n);
        _pos += n;
        return n;
    }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
