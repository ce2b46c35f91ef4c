using System.Net;
using System.Net.Sockets;
using Microsoft.Playwright;
using OspBridge.Net.IO;
using OspBridge.Testing.Netns;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// A two-host netns LAN: headless Debian Chromium (driven by Playwright .NET, whose driver process is started from a
/// thread inside host 0's namespace, so the browser lives there) and our stack on host 1 (sockets created inside host 1's
/// namespace through <see cref="OspBridge.WebRtc.RTCPeerConnectionOptions.SocketFactory"/>). Signalling is page.EvaluateAsync.
/// </summary>
internal sealed class ChromiumHarness : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private NetnsLan? _lan;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public NetnsHost BrowserHost => _lan!.Hosts[0];
    public NetnsHost OurHost => _lan!.Hosts[1];
    public IPage Page { get; private set; } = null!;

    public static string? WhyUnsupported()
    {
        if (NetnsLan.WhyUnsupported() is { } why) return why;
        if (!File.Exists(ChromiumPath)) return $"Chromium is not installed at {ChromiumPath} (apt-get install chromium)";
        return null;
    }

    public static Task<ChromiumHarness> StartAsync(params string[] extraArgs) => StartAsync(2, extraArgs);

    /// <summary>Host <paramref name="index"/> of the LAN (0: the browser's).</summary>
    public NetnsHost Host(int index) => _lan!.Hosts[index];

    /// <summary>The same with <paramref name="hostCount"/> hosts on the LAN (≥ 2; the browser on host 0).</summary>
    public static async Task<ChromiumHarness> StartAsync(int hostCount, string[] extraArgs)
    {
        if (WhyUnsupported() is { } why) throw new InvalidOperationException("Chromium WebRTC interop cannot run: " + why);
        ArgumentOutOfRangeException.ThrowIfLessThan(hostCount, 2);
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var h = new ChromiumHarness { _lan = await NetnsLan.CreateAsync(hostCount) };
        // The Playwright driver (node) is spawned synchronously by CreateAsync: doing that on a thread inside host 0's
        // namespace puts the driver, and every browser it launches, in that namespace.
        var pwTask = await h.BrowserHost.RunInNamespaceAsync(() => Playwright.CreateAsync());
        h._playwright = await pwTask;
        h._browser = await h.LaunchAsync(extraArgs);
        h.Page = await h._browser.NewPageAsync();
        // A secure context (crypto.subtle) without any network: Playwright answers the request itself.
        await h.Page.RouteAsync("https://ospbridge.test/**", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 200, ContentType = "text/html", Body = "<!doctype html><title>ospbridge webrtc interop</title>",
        }));
        await h.Page.GotoAsync("https://ospbridge.test/");
        await h.Page.EvaluateAsync(Js);
        return h;
    }

    /// <summary>The browser (e.g. for a second context: another "browser" with its own cookies).</summary>
    public IBrowser Browser => _browser!;

    /// <summary>
    /// Closes the browser and launches a new one with <paramref name="extraArgs"/> (for flags known only once the
    /// processes under test run, e.g. the bridge's SPKI hash); <see cref="Page"/> is a blank page of the new browser.
    /// </summary>
    public async Task RelaunchAsync(params string[] extraArgs)
    {
        try { if (_browser is not null) await _browser.CloseAsync(); } catch (PlaywrightException) { }
        _browser = await LaunchAsync(extraArgs);
        Page = await _browser.NewPageAsync();
    }

    // The Playwright driver lives in host 0's namespace, so the browser it launches does too.
    private Task<IBrowser> LaunchAsync(string[] extraArgs) => _playwright!.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = ChromiumPath,
        Headless = true,
        Args =
        [
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            .. extraArgs,
        ],
    });

    /// <summary>Socket factory for our peer connection: UDP sockets bound inside host 1's namespace.</summary>
    public IDatagramSocketFactory OurSockets => new NamespaceSocketFactory(OurHost);

    private sealed class NamespaceSocketFactory(NetnsHost host) : IDatagramSocketFactory
    {
        public IDatagramSocket Open(UdpSocketOptions options) => host.RunInNamespace(() => UdpSocketFactory.Default.Open(options));
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_browser is not null) await _browser.CloseAsync(); } catch (PlaywrightException) { }
        _playwright?.Dispose();
        if (_lan is not null) await _lan.DisposeAsync();
    }

    // Browser side: an echo peer plus a SHA-256 sink, exposed on window.T.
    private const string Js = """
        () => {
          window.T = {
            pc: null, sinkBytes: 0, closed: [], opened: [], states: [], errors: [],
            setup() {
              const pc = new RTCPeerConnection();
              this.pc = pc;
              pc.ondatachannel = e => this.attach(e.channel);
              pc.onconnectionstatechange = () => this.states.push(pc.connectionState);
              return true;
            },
            attach(ch) {
              ch.binaryType = 'arraybuffer';
              ch.onopen = () => this.opened.push(ch.label);
              if (ch.readyState === 'open') this.opened.push(ch.label);
              ch.onclose = () => this.closed.push(ch.label);
              ch.onerror = e => this.errors.push(ch.label + ': ' + (e.error && e.error.message));
              if (ch.label.startsWith('sink')) {
                const parts = []; let n = 0;
                ch.onmessage = async m => {
                  if (typeof m.data === 'string') {
                    const all = new Uint8Array(n); let o = 0;
                    for (const p of parts) { all.set(p, o); o += p.length; }
                    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
                    ch.send(n + ' ' + Array.from(d).map(b => b.toString(16).padStart(2, '0')).join(''));
                    parts.length = 0; n = 0;
                  } else { const u = new Uint8Array(m.data); parts.push(u); n += u.length; window.T.sinkBytes += u.length; }
                };
              } else {
                ch.onmessage = m => ch.send(m.data);
              }
              return ch;
            },
            createChannel(label, init) { this.attach(this.pc.createDataChannel(label, init || {})); return true; },
            closeChannel(label) { for (const c of this.channels || []) if (c.label === label) c.close(); },
            async gathered() {
              const pc = this.pc;
              if (pc.iceGatheringState !== 'complete')
                await new Promise(r => pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }));
              return pc.localDescription.sdp;
            },
            async offer() { await this.pc.setLocalDescription(await this.pc.createOffer()); return await this.gathered(); },
            async answer(sdp) {
              await this.pc.setRemoteDescription({ type: 'offer', sdp });
              await this.pc.setLocalDescription(await this.pc.createAnswer());
              return await this.gathered();
            },
            async accept(sdp) { await this.pc.setRemoteDescription({ type: 'answer', sdp }); return true; },
            close() { this.pc.close(); return true; },
          };
          const orig = window.T.attach.bind(window.T);
          window.T.channels = [];
          window.T.attach = ch => { window.T.channels.push(ch); return orig(ch); };
          return true;
        }
        """;
}
