using Microsoft.Playwright;
using OspBridge.Interop.Tests.WebRtc;
using OspBridge.PeerFetch;
using OspBridge.Testing;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc;

namespace OspBridge.Interop.Tests.PeerFetch;

/// <summary>
/// Chromium (host 0 of a netns LAN, <see cref="ChromiumHarness"/>) offers a data channel labelled <c>http-proxy</c>;
/// our RTCPeerConnection (host 1) answers and serves every incoming channel with a <see cref="PeerFetchDevice"/> that
/// proxies to a <see cref="PeerFetchTestOrigin"/> on the test process's loopback (allow-list <c>/api</c>). The page
/// imports <c>interop/peerfetch/peerfetch.js</c> as an ES module (served by a Playwright route) and exposes helpers on
/// <c>window.PF</c>.
/// </summary>
internal sealed class PeerFetchChromiumRig : IAsyncDisposable
{
    public const string PeerId = "chromium";
    private readonly List<Task> _serving = [];
    private readonly CancellationTokenSource _stop = new();

    private PeerFetchChromiumRig(ChromiumHarness harness, PeerFetchTestOrigin origin, PeerFetchDevice device, List<string> log)
    {
        Log = log;
        Harness = harness;
        Origin = origin;
        Device = device;
    }

    public ChromiumHarness Harness { get; }
    public IPage Page => Harness.Page;
    public PeerFetchTestOrigin Origin { get; }
    public PeerFetchDevice Device { get; }
    public RTCPeerConnection Pc { get; private set; } = null!;
    /// <summary>Our side's log lines (peer connection and device access log); lock it to read.</summary>
    public List<string> Log { get; }

    /// <summary>Where the ES module lives in the repository.</summary>
    public static string ModulePath() => Path.Combine(RepoPaths.Interop, "peerfetch", "peerfetch.js");

    public static async Task<PeerFetchChromiumRig> StartAsync(PeerFetchDeviceOptions? options = null)
    {
        var origin = await PeerFetchTestOrigin.StartAsync();
        var log = new List<string>();
        var logger = new LineLogger(s => { lock (log) log.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {s}"); });
        var device = PeerFetchDevice.CreateProxy(
            [new PeerFetchOrigin(origin.Uri) { HostNames = ["device.local"], AllowedPathPrefixes = ["/api"] }],
            (options ?? new PeerFetchDeviceOptions()) with { Logger = logger });
        ChromiumHarness harness;
        try
        {
            harness = await ChromiumHarness.StartAsync();
        }
        catch
        {
            device.Dispose();
            await origin.DisposeAsync();
            throw;
        }
        var rig = new PeerFetchChromiumRig(harness, origin, device, log);
        try
        {
            await rig.ConnectAsync(logger);
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
        return rig;
    }

    private async Task ConnectAsync(LineLogger logger)
    {
        string module = await File.ReadAllTextAsync(ModulePath());
        await Page.RouteAsync("https://ospbridge.test/peerfetch.js", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 200, ContentType = "text/javascript", Body = module,
        }));
        await Page.EvaluateAsync(PageJs);
        await Page.EvaluateAsync("() => T.setup()");
        await Page.EvaluateAsync("() => PF.open('http-proxy')");
        string offer = await Page.EvaluateAsync<string>("() => T.offer()");
        Pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [Harness.OurHost.IPv4] },
            new RTCPeerConnectionOptions { SocketFactory = Harness.OurSockets, Logger = logger });
        Pc.OnDataChannel += ch =>
        {
            lock (_serving) _serving.Add(Task.Run(() => Device.ServeAsync(ch, PeerId, _stop.Token)));
        };
        await Pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
        await Pc.SetLocalDescriptionAsync(await Pc.CreateAnswerAsync());
        await Page.EvaluateAsync("sdp => T.accept(sdp)", Pc.LocalDescription!.Sdp);
        int max = await Page.EvaluateAsync<int>("() => PF.opened()");
        Assert.Equal(262144, max); // Chromium's and our max-message-size
    }

    /// <summary>Stops the device (it sends GOAWAY on its v2 channels and closes them) and waits for its serve loops.</summary>
    public async Task StopDeviceAsync()
    {
        await _stop.CancelAsync();
        Task[] all;
        lock (_serving) all = [.. _serving];
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        await StopDeviceAsync();
        if (Pc is not null) await Pc.DisposeAsync();
        await Harness.DisposeAsync();
        Device.Dispose();
        await Origin.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>
    /// Page helpers: the imported module, the channel, a SHA-256 body reader, the deterministic body generator (same
    /// formula as <see cref="TestBodies"/>), a timeout race, and a hand-written v1 client that follows the original
    /// peerfetch rules exactly (one JSON text request at a time; 202 heartbeats; text header; one body message unless 204).
    /// </summary>
    private const string PageJs = """
        async () => {
          const mod = await import('/peerfetch.js');
          const hex = b => Array.from(new Uint8Array(b)).map(x => x.toString(16).padStart(2, '0')).join('');
          window.PF = {
            mod, ch: null, c: null, v: {},
            open(label) { this.ch = T.pc.createDataChannel(label); this.ch.binaryType = 'arraybuffer'; return true; },
            async opened() {
              if (this.ch.readyState !== 'open')
                await new Promise((r, j) => { this.ch.addEventListener('open', r, { once: true }); this.ch.addEventListener('close', () => j(new Error('closed')), { once: true }); });
              return T.pc.sctp.maxMessageSize;
            },
            client(extra) {
              this.c = new mod.PeerFetchClient(this.ch, { maxMessageSize: T.pc.sctp.maxMessageSize, baseUrl: 'http://device.local/', ...(extra || {}) });
              return true;
            },
            sha: async u8 => hex(await crypto.subtle.digest('SHA-256', u8)),
            make(n, seed) { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + Math.floor(i / 251) + (seed || 0)) & 0xff; return b; },
            within(p, ms, what) { return Promise.race([p, new Promise((_, j) => setTimeout(() => j(new Error('timeout: ' + what)), ms))]); },
            async readAll(res) {
              const reader = res.body.getReader(); const parts = []; let n = 0, chunks = 0;
              for (;;) { const r = await reader.read(); if (r.done) break; parts.push(r.value); n += r.value.length; chunks++; }
              const all = new Uint8Array(n); let o = 0; for (const p of parts) { all.set(p, o); o += p.length; }
              return { n, chunks, sha: await this.sha(all) };
            },
            errorOf(p) { return p.then(() => 'resolved', e => (e && e.name) + ': ' + (e && e.message)); },
            // ---- a v1 client written to the original rules, over PF.ch
            v1: {
              q: [], w: null,
              attach(ch) { ch.onmessage = e => { this.q.push(e.data); const w = this.w; this.w = null; if (w) w(); }; return true; },
              async next(ms) {
                const deadline = Date.now() + (ms || 20000);
                while (this.q.length === 0) {
                  if (Date.now() > deadline) throw new Error('v1: no message');
                  await new Promise(r => { this.w = r; setTimeout(r, 200); });
                }
                return this.q.shift();
              },
              async request(obj) {
                PF.ch.send(JSON.stringify(obj));
                let heartbeats = 0, header;
                for (;;) {
                  const m = await this.next();
                  if (typeof m !== 'string') throw new Error('v1: binary message where a header was expected');
                  const h = JSON.parse(m);
                  if (!('status' in h)) continue;
                  if (h.status === 202) { heartbeats++; continue; }
                  header = h; break;
                }
                if (header.status === 204) return { heartbeats, header, body: false };
                const b = await this.next();
                const bytes = typeof b === 'string' ? new TextEncoder().encode(b) : new Uint8Array(b);
                return { heartbeats, header, body: true, binary: typeof b !== 'string', length: bytes.length,
                         text: bytes.length <= 4096 ? new TextDecoder().decode(bytes) : null, sha: await PF.sha(bytes), queued: this.q.length };
              },
            },
          };
          return true;
        }
        """;
}
