using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using OspBridge.Crypto;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Stun;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Interop.Tests.Dtls;

/// <summary>
/// Real headless Chromium against our DTLS endpoint, both DTLS roles. Chromium runs in one namespace of a private
/// <see cref="NetnsLan"/>, our UDP socket lives in another. The test side is a minimal ICE-lite peer (it only answers
/// STUN Binding requests, using the WebRTC layer's STUN codec) so that Chromium starts DTLS; no SCTP is run.
/// Success = both ends report the DTLS transport connected, each saw the other's certificate, and Chromium's first
/// SCTP packet (common header 5000 → 5000) arrives through our endpoint.
/// </summary>
public sealed partial class ChromiumDtlsInteropTests
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(40);
    private readonly ITestOutputHelper _log;

    public ChromiumDtlsInteropTests(ITestOutputHelper log) => _log = log;

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(true, 30)]
    [InlineData(false, 30)]
    public async Task Chromium_DtlsHandshake_AndSctpThroughUs(bool weAreDtlsClient, int dtlsLossPercent)
    {
        double dtlsLoss = dtlsLossPercent / 100.0;
        Assert.True(File.Exists(ChromiumPath), $"prerequisite missing: {ChromiumPath} (Debian package 'chromium')");
        Assert.Null(NetnsLan.WhyUnsupported());
        await using var lan = await NetnsLan.CreateAsync(2);
        var browserHost = lan.Hosts[0];
        var ourHost = lan.Hosts[1];
        using var socket = await ourHost.RunInNamespaceAsync(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(ourHost.IPv4, 0));
            return s;
        });
        int port = ((IPEndPoint)socket.LocalEndPoint!).Port;

        var dir = Directory.CreateTempSubdirectory("dtls-chromium-").FullName;
        try
        {
            var wrapper = Path.Combine(dir, "chromium-in-netns.sh");
            File.WriteAllText(wrapper, $"#!/bin/sh\nexec ip netns exec {browserHost.Namespace} {ChromiumPath} \"$@\"\n");
            if (OperatingSystem.IsLinux()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = wrapper,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--disable-features=WebRtcHideLocalIpsWithMdns"],
                Timeout = 60_000,
            });
            var page = await browser.NewPageAsync();
            string offer = await page.EvaluateAsync<string>(@"async () => {
                window.pc = new RTCPeerConnection();
                window.dc = pc.createDataChannel('dtls-test');
                await pc.setLocalDescription();
                return pc.localDescription.sdp; }");
            string mid = Attr(offer, "mid") ?? "0";
            string remoteFp = Attr(offer, "fingerprint") ?? throw new InvalidOperationException("no fingerprint in offer:\n" + offer);
            Assert.StartsWith("sha-256 ", remoteFp);

            using var cert = SelfSignedCertificate.Create("WebRTC");
            const string ufrag = "dtls";
            const string pwd = "dtlsTestPassword0123456789";
            var answer = string.Join("\r\n",
                "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", $"a=group:BUNDLE {mid}", "a=ice-lite",
                "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", $"c=IN IP4 {ourHost.IPv4}", $"a=mid:{mid}",
                $"a=ice-ufrag:{ufrag}", $"a=ice-pwd:{pwd}", $"a=fingerprint:{CertificateFingerprint.ToSdp(cert)}",
                $"a=setup:{(weAreDtlsClient ? "active" : "passive")}", "a=sctp-port:5000", "a=max-message-size:262144",
                $"a=candidate:1 1 udp 2130706431 {ourHost.IPv4} {port} typ host", "a=end-of-candidates", "");
            await page.EvaluateAsync("sdp => pc.setRemoteDescription({ type: 'answer', sdp })", answer);

            using var ep = new DtlsEndpoint(new DtlsOptions { IsClient = weAreDtlsClient, Certificate = cert, RemoteFingerprint = remoteFp });
            var result = await Task.Run(() => Pump(socket, ep, Encoding.UTF8.GetBytes(pwd), Timeout, dtlsLoss));
            _log.WriteLine($"stun requests {result.StunRequests}, dtls datagrams in {result.DtlsIn}, dropped {result.Dropped}, connected after {result.ConnectedAt}, first app record {Convert.ToHexString(result.FirstApplicationRecord ?? [])}");
            if (dtlsLoss > 0) Assert.True(result.Dropped > 0, "no DTLS datagram was dropped");

            Assert.True(ep.State == DtlsState.Connected, $"our DTLS {ep.State}: {ep.Error?.Message}; stun {result.StunRequests}, dtls in {result.DtlsIn}");
            Assert.Equal(DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, ep.CipherSuite);
            Assert.NotNull(ep.PeerCertificate);
            Assert.True(CertificateFingerprint.MatchesSdp(ep.PeerCertificate!, remoteFp));
            Assert.NotNull(result.FirstApplicationRecord);
            Assert.Equal(Convert.FromHexString("13881388"), result.FirstApplicationRecord![..4]); // SCTP ports 5000 -> 5000

            string state = await page.EvaluateAsync<string>("() => pc.sctp.transport.state");
            Assert.Equal("connected", state);
            string theirView = await page.EvaluateAsync<string>(@"() => {
                const c = pc.sctp.transport.getRemoteCertificates()[0];
                return btoa(String.fromCharCode(...new Uint8Array(c))); }");
            Assert.Equal(Convert.ToBase64String(cert.RawData), theirView);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private sealed record PumpResult(int StunRequests, int DtlsIn, int Dropped, TimeSpan? ConnectedAt, byte[]? FirstApplicationRecord);

    /// <summary>
    /// ICE-lite STUN answers + DTLS, until DTLS is connected and one application record arrived (or timeout). With
    /// <paramref name="loss"/> &gt; 0, that share of DTLS datagrams (seeded) is dropped in both directions; STUN is never dropped.
    /// </summary>
    private static PumpResult Pump(Socket socket, DtlsEndpoint ep, byte[] icePwd, TimeSpan timeout, double loss)
    {
        var clock = Stopwatch.StartNew();
        var buf = new byte[65536];
        var random = new Random(2024);
        EndPoint? peer = null;
        int stun = 0, dtlsIn = 0, dropped = 0;
        TimeSpan? connectedAt = null;
        byte[]? firstApp = null;
        bool Lose()
        {
            if (loss <= 0 || random.NextDouble() >= loss) return false;
            dropped++;
            return true;
        }
        while (clock.Elapsed < timeout && ep.State is DtlsState.New or DtlsState.Connecting or DtlsState.Connected)
        {
            if (ep.State == DtlsState.Connected && firstApp is not null) break;
            var now = clock.Elapsed;
            if (ep.NextDeadline is { } due && due <= now) ep.HandleDeadline(now);
            Flush(socket, ep, peer, Lose);
            if (!socket.Poll(20_000, SelectMode.SelectRead)) continue;
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int n = socket.ReceiveFrom(buf, ref from);
            var data = buf.AsSpan(0, n);
            if (StunMessage.IsStun(data) && StunMessage.TryParse(data, out var msg) && msg is not null)
            {
                if (msg.Method != StunConstants.BindingMethod || msg.Class != StunClass.Request || !msg.VerifyMessageIntegrity(icePwd)) continue;
                stun++;
                var resp = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.SuccessResponse, msg.TransactionId)
                    .AddXorMappedAddress((IPEndPoint)from).AddMessageIntegrity(icePwd).AddFingerprint();
                socket.SendTo(resp.Written, from);
                if (peer is null || msg.UseCandidate) peer = from;
                if (ep.State == DtlsState.New && ep.IsClient && msg.UseCandidate) ep.Start(clock.Elapsed);
            }
            else if (DtlsEndpoint.IsDtlsDatagram(data) && !Lose())
            {
                dtlsIn++;
                peer ??= from;
                ep.Receive(data, clock.Elapsed);
                if (ep.State == DtlsState.Connected) connectedAt ??= clock.Elapsed;
                if (firstApp is null && ep.TryReadApplicationData(out var app)) firstApp = app.ToArray();
            }
            Flush(socket, ep, peer, Lose);
        }
        return new PumpResult(stun, dtlsIn, dropped, connectedAt, firstApp);
    }

    private static void Flush(Socket socket, DtlsEndpoint ep, EndPoint? peer, Func<bool> lose)
    {
        if (peer is null) return;
        var buffer = new byte[OspBridge.Net.Core.CoreLimits.MaxDatagramSize];
        while (ep.TryPollTransmit(buffer, TimeSpan.Zero, out int length))
            if (!lose()) socket.SendTo(buffer.AsSpan(0, length), peer);
    }

    private static string? Attr(string sdp, string name)
    {
        var m = Regex.Match(sdp, $"^a={Regex.Escape(name)}:(.+?)\\r?$", RegexOptions.Multiline);
        return m.Success ? m.Groups[1].Value.Trim() : null;
    }
}
