using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using OspBridge.PeerFetch;
using Xunit.Abstractions;

namespace OspBridge.Interop.Tests.PeerFetch;

/// <summary>
/// PeerFetch in headless Chromium against our device (docs/peerfetch.md "Browser client"): the ES module
/// <c>interop/peerfetch/peerfetch.js</c> speaking v2 over a browser RTCDataChannel, the same module falling back to a
/// v1-only device, and a page-JS v1 client written to the original peerfetch rules. The device is our
/// RTCPeerConnection + <see cref="PeerFetchDevice"/> in a network namespace, proxying to a Kestrel origin on loopback.
/// </summary>
[Collection("Chromium WebRTC")]
public class PeerFetchChromiumTests(ITestOutputHelper output)
{
    private static string Sha(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    private void Dump(PeerFetchChromiumRig rig)
    {
        lock (rig.Log) foreach (var l in rig.Log.TakeLast(120)) output.WriteLine(l);
    }

    private async Task<JsonElement> Js(PeerFetchChromiumRig rig, string script, object? arg = null)
    {
        var result = arg is null ? await rig.Page.EvaluateAsync<JsonElement>(script) : await rig.Page.EvaluateAsync<JsonElement>(script, arg);
        output.WriteLine($"page: {result}");
        return result;
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        for (int i = 0; i < 200 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), what);
    }

    [Fact]
    public async Task Es_module_fetch_over_v2()
    {
        await using var rig = await PeerFetchChromiumRig.StartAsync();
        try
        {
            await rig.Page.EvaluateAsync("() => PF.client()");

            // JSON, with a request header carried end to end.
            var json = await Js(rig, """
                async () => {
                  const r = await PF.within(PF.c.fetch('/api/json'), 20000, 'json');
                  return { protocol: PF.c.protocol, status: r.status, ok: r.ok, type: r.headers.get('content-type'), url: r.url, body: await r.json() };
                }
                """);
            Assert.Equal("v2", json.GetProperty("protocol").GetString());
            Assert.Equal(200, json.GetProperty("status").GetInt32());
            Assert.StartsWith("application/json", json.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.Equal("http://device.local/api/json", json.GetProperty("url").GetString());
            Assert.Equal("api", json.GetProperty("body").GetProperty("hello").GetString());
            Assert.Equal(42, json.GetProperty("body").GetProperty("n").GetInt32());
            var headers = await Js(rig, """
                async () => (await (await PF.within(PF.c.fetch(new URL('http://device.local/api/headers'), { headers: { 'X-Token': 'abc', 'Connection': 'close' } }), 20000, 'headers')).json())
                """);
            Assert.Equal("abc", headers.GetProperty("x-token").GetString());

            // 10 MiB streamed chunk by chunk into the page and hashed there.
            const int Big = 10 << 20;
            var sw = Stopwatch.StartNew();
            var big = await Js(rig, $$"""
                async () => {
                  const r = await PF.within(PF.c.fetch('/api/bytes/{{Big}}?seed=7'), 20000, 'head of 10 MiB');
                  return { status: r.status, length: r.headers.get('content-length'), ...(await PF.within(PF.readAll(r), 120000, '10 MiB body')) };
                }
                """);
            sw.Stop();
            Assert.Equal(200, big.GetProperty("status").GetInt32());
            Assert.Equal(Big, big.GetProperty("n").GetInt32());
            Assert.Equal(Sha(TestBodies.Make(Big, 7)), big.GetProperty("sha").GetString());
            Assert.True(big.GetProperty("chunks").GetInt32() >= 40, "the body arrived as a stream of frames, not one buffer");
            output.WriteLine($"10 MiB device -> Chromium over PeerFetch v2: {sw.Elapsed.TotalSeconds:F2} s, {Big * 8 / sw.Elapsed.TotalSeconds / 1e6:F1} Mbit/s");

            // POST bodies echoed byte-exact: string, 3 MiB ArrayBuffer (above the device's 1 MiB stream window and the
            // 256 KiB max-message-size), Blob, ReadableStream, URLSearchParams.
            const int Up = 3 << 20;
            var posts = await Js(rig, $$"""
                async () => {
                  const echo = (body, extra) => PF.within(PF.c.fetch('/api/echo', { method: 'POST', body, ...(extra || {}) }), 60000, 'echo');
                  const text = await (await echo('{"posted":true,"é":"ü"}', { headers: { 'content-type': 'application/json' } })).text();
                  const bin = PF.make({{Up}}, 3);
                  const r = await echo(bin.buffer, { headers: { 'content-type': 'application/octet-stream' } });
                  const back = await PF.readAll(r);
                  const blob = await (await echo(new Blob(['blob-', 'body'], { type: 'text/plain' }))).text();
                  const parts = [PF.make(100000, 1), PF.make(150000, 2), PF.make(1, 3)];
                  const stream = new ReadableStream({ pull(c) { const p = parts.shift(); if (p) c.enqueue(p); else c.close(); } });
                  const streamed = await PF.readAll(await echo(stream));
                  const form = await (await echo(new URLSearchParams({ a: '1', b: 'x y' }))).text();
                  return { text, status: r.status, back, blob, streamed, form };
                }
                """);
            Assert.Equal("""{"posted":true,"é":"ü"}""", posts.GetProperty("text").GetString());
            Assert.Equal(200, posts.GetProperty("status").GetInt32());
            Assert.Equal(Up, posts.GetProperty("back").GetProperty("n").GetInt32());
            Assert.Equal(Sha(TestBodies.Make(Up, 3)), posts.GetProperty("back").GetProperty("sha").GetString());
            Assert.Equal("blob-body", posts.GetProperty("blob").GetString());
            Assert.Equal(250001, posts.GetProperty("streamed").GetProperty("n").GetInt32());
            Assert.Equal(Sha([.. TestBodies.Make(100000, 1), .. TestBodies.Make(150000, 2), .. TestBodies.Make(1, 3)]), posts.GetProperty("streamed").GetProperty("sha").GetString());
            Assert.Equal("a=1&b=x+y", posts.GetProperty("form").GetString());

            // 16 concurrent fetches: all at the origin at the same time, and 16 bodies byte-exact under multiplexing.
            sw.Restart();
            var slow = await Js(rig, """
                async () => {
                  const all = await PF.within(Promise.all(Array.from({ length: 16 }, () => PF.c.fetch('/api/slow?ms=1500').then(r => r.json()))), 30000, '16 slow');
                  return all.filter(x => x.slept === 1500).length;
                }
                """);
            sw.Stop();
            Assert.Equal(16, slow.GetInt32());
            Assert.True(rig.Origin.MaxInFlight >= 16, $"origin saw at most {rig.Origin.MaxInFlight} requests at once");
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), $"16 × 1.5 s took {sw.Elapsed} (not concurrent)");
            var many = await Js(rig, """
                async () => {
                  const sizes = Array.from({ length: 16 }, (_, i) => 1000 + i * 70001);
                  const got = await PF.within(Promise.all(sizes.map((n, i) => PF.c.fetch(`/api/bytes/${n}?seed=${i}`).then(r => PF.readAll(r)))), 60000, '16 bodies');
                  return got.map(g => g.n + ' ' + g.sha);
                }
                """);
            for (int i = 0; i < 16; i++)
            {
                int n = 1000 + (i * 70001);
                Assert.Equal(n.ToString(CultureInfo.InvariantCulture) + " " + Sha(TestBodies.Make(n, i)), many[i].GetString());
            }

            // Outside the allow-list: 403 from the device (a response, not a network error).
            var forbidden = await Js(rig, "async () => { const r = await PF.c.fetch('/secret'); return { status: r.status, body: await r.json() }; }");
            Assert.Equal(403, forbidden.GetProperty("status").GetInt32());
            Assert.Contains("not allowed", forbidden.GetProperty("body").GetProperty("error").GetString(), StringComparison.Ordinal);
            var noContent = await Js(rig, "async () => { const r = await PF.c.fetch('/api/nocontent'); return { status: r.status, body: r.body === null }; }");
            Assert.Equal(204, noContent.GetProperty("status").GetInt32());
            Assert.True(noContent.GetProperty("body").GetBoolean());

            // Abort before the head: the fetch rejects with AbortError and the device aborts the origin request.
            rig.Origin.ResetAbortWatch();
            await rig.Page.EvaluateAsync("() => { PF.ac = new AbortController(); PF.p = PF.errorOf(PF.c.fetch('/api/wait-abort', { signal: PF.ac.signal })); return true; }");
            await rig.Origin.Started.Task.WaitAsync(TimeSpan.FromSeconds(20));
            var early = await Js(rig, "async () => { PF.ac.abort(); return await PF.within(PF.p, 10000, 'abort'); }");
            Assert.StartsWith("AbortError", early.GetString(), StringComparison.Ordinal);
            await rig.Origin.Aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));

            // Abort mid-body: the page has part of the body, aborts, its reader fails with AbortError, the origin request is aborted.
            rig.Origin.ResetAbortWatch();
            var mid = await Js(rig, """
                async () => {
                  PF.ac = new AbortController();
                  const r = await PF.within(PF.c.fetch('/api/drip', { signal: PF.ac.signal }), 20000, 'drip head');
                  const reader = r.body.getReader(); let n = 0;
                  while (n < 256 * 1024) { const x = await PF.within(reader.read(), 20000, 'drip body'); if (x.done) break; n += x.value.length; }
                  PF.reader = reader;
                  return n;
                }
                """);
            Assert.Equal(256 << 10, mid.GetInt32());
            await rig.Origin.Started.Task.WaitAsync(TimeSpan.FromSeconds(20));
            var midAbort = await Js(rig, "async () => { PF.ac.abort(); return await PF.within(PF.errorOf(PF.reader.read()), 10000, 'read after abort'); }");
            Assert.StartsWith("AbortError", midAbort.GetString(), StringComparison.Ordinal);
            await rig.Origin.Aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await UntilAsync(() => rig.Device.ActiveRequests(PeerFetchChromiumRig.PeerId) == 0, "the device finished every request");

            // Cancelling the body stream (no signal) resets the exchange too; the client stays usable afterwards.
            rig.Origin.ResetAbortWatch();
            await rig.Page.EvaluateAsync("async () => { const r = await PF.c.fetch('/api/drip'); const rd = r.body.getReader(); await rd.read(); await rd.cancel(); return true; }");
            await rig.Origin.Aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var after = await Js(rig, "async () => (await (await PF.within(PF.c.fetch('/api/json'), 20000, 'after aborts')).json()).hello");
            Assert.Equal("api", after.GetString());

            // The device stops: GOAWAY reaches the page, and a new fetch fails like fetch does on a network error.
            await rig.StopDeviceAsync();
            var gone = await Js(rig, """
                async () => {
                  const deadline = Date.now() + 10000;
                  while (!PF.c.peerGoAway && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
                  return { goaway: PF.c.peerGoAway && PF.c.peerGoAway.debug, error: await PF.within(PF.errorOf(PF.c.fetch('/api/json')), 10000, 'after goaway') };
                }
                """);
            Assert.Equal("device stopping", gone.GetProperty("goaway").GetString());
            Assert.StartsWith("TypeError: PeerFetch:", gone.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            Dump(rig);
        }
    }

    [Fact]
    public async Task Es_module_falls_back_to_a_v1_only_device()
    {
        await using var rig = await PeerFetchChromiumRig.StartAsync(new PeerFetchDeviceOptions { EnableV2 = false });
        try
        {
            await rig.Page.EvaluateAsync("() => PF.client()");
            var r = await Js(rig, """
                async () => {
                  const t0 = performance.now();
                  const first = await PF.within(PF.c.fetch('/api/json'), 20000, 'v1 json');
                  const ms = performance.now() - t0;
                  const body = await first.json();
                  // Three at once: v1 carries one at a time, the module queues them.
                  const three = await PF.within(Promise.all([1, 2, 3].map(i => PF.c.fetch(`/api/bytes/${i * 1000}?seed=${i}`).then(x => PF.readAll(x)))), 30000, 'v1 three');
                  const post = await (await PF.c.fetch('/api/echo', { method: 'POST', body: JSON.stringify({ v: 1 }), headers: { 'content-type': 'application/json' } })).json();
                  const big = await PF.c.fetch('/api/bytes/300000');
                  const binary = await PF.errorOf(PF.c.fetch('/api/echo', { method: 'PUT', body: new Uint8Array(4) }));
                  return { protocol: PF.c.protocol, ms, status: first.status, type: first.headers.get('content-type'), body, three: three.map(x => x.n + ' ' + x.sha), post, big: big.status, bigBody: await big.json(), binary };
                }
                """);
            Assert.Equal("v1", r.GetProperty("protocol").GetString());
            Assert.True(r.GetProperty("ms").GetDouble() < 2500, "the v1 device's text answer to HELLO ends the negotiation at once (no 3 s timeout)");
            Assert.Equal(200, r.GetProperty("status").GetInt32());
            Assert.StartsWith("application/json", r.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.Equal("api", r.GetProperty("body").GetProperty("hello").GetString());
            for (int i = 1; i <= 3; i++)
                Assert.Equal((i * 1000).ToString(CultureInfo.InvariantCulture) + " " + Sha(TestBodies.Make(i * 1000, i)), r.GetProperty("three")[i - 1].GetString());
            Assert.Equal(1, r.GetProperty("post").GetProperty("v").GetInt32());
            Assert.Equal(413, r.GetProperty("big").GetInt32()); // above Chromium's 256 KiB max-message-size: v1 cannot split it
            Assert.Contains("max-message-size", r.GetProperty("bigBody").GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.StartsWith("TypeError", r.GetProperty("binary").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            Dump(rig);
        }
    }

    /// <summary>
    /// The v1 compatibility client: page JS that follows the original peerfetch rules (research §1.3) over a browser
    /// RTCDataChannel labelled <c>http-proxy</c> against our device.
    /// </summary>
    [Fact]
    public async Task Page_v1_client_against_our_device()
    {
        await using var rig = await PeerFetchChromiumRig.StartAsync();
        try
        {
            await rig.Page.EvaluateAsync("() => PF.v1.attach(PF.ch)");
            async Task<JsonElement> V1(string request) => await Js(rig, "r => PF.within(PF.v1.request(JSON.parse(r)), 30000, 'v1 ' + r)", request);

            // ping → {"status":200} then a text "pong".
            var ping = await V1("""{"url":"ping?","method":"GET"}""");
            Assert.Equal(200, ping.GetProperty("header").GetProperty("status").GetInt32());
            Assert.False(ping.GetProperty("binary").GetBoolean());
            Assert.Equal("pong", ping.GetProperty("text").GetString());

            // GET JSON: a heartbeat, then the header with type and length, then exactly one binary body.
            var get = await V1("""{"url":"http://localhost/api/json","method":"GET"}""");
            var header = get.GetProperty("header");
            Assert.Equal(200, header.GetProperty("status").GetInt32());
            Assert.StartsWith("application/json", header.GetProperty("content-type").GetString(), StringComparison.Ordinal);
            Assert.Equal(get.GetProperty("length").GetInt32(), header.GetProperty("content-length").GetInt32());
            Assert.True(get.GetProperty("binary").GetBoolean());
            Assert.Equal("api", JsonDocument.Parse(get.GetProperty("text").GetString()!).RootElement.GetProperty("hello").GetString());
            Assert.Equal(0, get.GetProperty("queued").GetInt32()); // nothing after the body

            // A slow origin (2.5 s): 202 heartbeats at once and every second until the answer.
            var slow = await V1("""{"url":"http://localhost/api/slow?ms=2500","method":"GET"}""");
            Assert.Equal(200, slow.GetProperty("header").GetProperty("status").GetInt32());
            Assert.True(slow.GetProperty("heartbeats").GetInt32() >= 2, "a heartbeat at once and at least one more while the origin sleeps (1 s interval)");

            // The largest body one message can carry (Chromium's max-message-size), byte-exact; one byte more → 413.
            var max = await V1("""{"url":"http://localhost/api/bytes/262144?seed=5","method":"GET"}""");
            Assert.Equal(200, max.GetProperty("header").GetProperty("status").GetInt32());
            Assert.Equal(262144, max.GetProperty("length").GetInt32());
            Assert.Equal(Sha(TestBodies.Make(262144, 5)), max.GetProperty("sha").GetString());
            var tooBig = await V1("""{"url":"http://localhost/api/bytes/262145","method":"GET"}""");
            Assert.Equal(413, tooBig.GetProperty("header").GetProperty("status").GetInt32());
            Assert.Contains("max-message-size", tooBig.GetProperty("text").GetString(), StringComparison.Ordinal);

            // Outside the allow-list, and a host that is not the device's origin: 403 with a JSON error (no open proxy).
            var secret = await V1("""{"url":"http://localhost/secret","method":"GET"}""");
            Assert.Equal(403, secret.GetProperty("header").GetProperty("status").GetInt32());
            Assert.Contains("error", secret.GetProperty("text").GetString(), StringComparison.Ordinal);
            var elsewhere = await V1("""{"url":"http://example.com/api/json","method":"GET"}""");
            Assert.Equal(403, elsewhere.GetProperty("header").GetProperty("status").GetInt32());

            // POST json and PUT data are forwarded (the original dropped PUT bodies).
            var post = await V1("""{"url":"http://localhost/api/echo","method":"POST","json":{"a":1,"b":[true,null]}}""");
            Assert.Equal(200, post.GetProperty("header").GetProperty("status").GetInt32());
            Assert.Equal("""{"a":1,"b":[true,null]}""", post.GetProperty("text").GetString());
            var put = await V1("""{"url":"http://localhost/api/echo","method":"PUT","data":"hello v1"}""");
            Assert.Equal("hello v1", put.GetProperty("text").GetString());

            // 204: header only, no body message — the next answer (a pong) follows directly.
            var none = await V1("""{"url":"http://localhost/api/nocontent","method":"GET"}""");
            Assert.Equal(204, none.GetProperty("header").GetProperty("status").GetInt32());
            Assert.False(none.GetProperty("body").GetBoolean());
            var ping2 = await V1("""{"url":"ping?","method":"GET"}""");
            Assert.Equal("pong", ping2.GetProperty("text").GetString());
            Assert.Equal(0, ping2.GetProperty("heartbeats").GetInt32());
        }
        finally
        {
            Dump(rig);
        }
    }
}
