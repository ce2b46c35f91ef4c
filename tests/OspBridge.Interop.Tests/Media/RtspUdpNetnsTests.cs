using OspBridge.Interop.Tests.Mdns;
using OspBridge.Testing;
using static OspBridge.Interop.Tests.Media.CameraNetnsSetup;

namespace OspBridge.Interop.Tests.Media;

/// <summary>
/// RTSP over UDP with the real CLI across namespaces: the GStreamer camera stand-in in its own namespace (its eth0
/// address), <c>agent --camera rtsp://…?transport=udp</c> in a second, <c>view</c> in a third; the RTP crosses the veth
/// as UDP datagrams (the agent logs "playing over UDP"), ffprobe decodes what view saved. Then the camera's namespace
/// drops every UDP datagram it sends (a blackhole route for UDP, a firewall stand-in): the agent gives UDP up after its timeout and the
/// stream still arrives over TCP-interleaved.
/// </summary>
public sealed class RtspUdpNetnsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private readonly TestDirectory _root = new("ospb-rtsp-udp-netns");

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RtspCamera_OverUdp_Agent_View_FfprobeDecodes(bool cameraUdpBlocked)
    {
        Assert.Null(NetnsLan.WhyUnsupported());
        string ffprobe = Require("/usr/bin/ffprobe", "ffmpeg");
        RequireRtspStandIn();
        Require("/usr/sbin/ip", "iproute2");
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        NetnsHost cameraHost = lan.Hosts[0], deviceHost = lan.Hosts[1], clientHost = lan.Hosts[2];
        if (cameraUdpBlocked)
        {
            // every UDP datagram the camera sends off-host is routed into a blackhole (policy routing on the IP protocol;
            // no tc modules needed): RTSP (TCP) still works, RTP over UDP never arrives
            (await cameraHost.RunAsync("/usr/sbin/ip", ["rule", "add", "ipproto", "udp", "table", "100"], TimeSpan.FromSeconds(10))).EnsureSuccess("ip rule");
            (await cameraHost.RunAsync("/usr/sbin/ip", ["route", "add", "blackhole", "default", "table", "100"], TimeSpan.FromSeconds(10))).EnsureSuccess("ip route blackhole");
        }
        string name = "Side Gate";
        string agentState = _root["agent"], clientState = _root["client"];

        var (camera, ready) = await StartRtspCameraAsync(cameraHost, Step, cameraHost.IPv4.ToString());
        await using var cameraOwner = camera;
        output.WriteLine(ready);
        var agent = await StartPairedAgentAsync(_root.Path, deviceHost, clientHost, name, agentState, clientState, Step, output.WriteLine,
            "--camera", ready["READY ".Length..] + "?transport=udp", "-v");
        try
        {

            string h264 = _root["gate.h264"];
            var view = await OspBridgeCli.RunAsync(clientHost, Step, "view", name, "--seconds", cameraUdpBlocked ? "14" : "8", "-o", h264,
                "--timeout", "60", "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine(view.StandardOutput + view.StandardError);
            Assert.True(view.ExitCode == 0, view.StandardError);
            string total = view.StandardOutput.Split('\n').Single(l => l.StartsWith("total ", StringComparison.Ordinal));
            Assert.Contains("resolution=640x360", total, StringComparison.Ordinal);
            Assert.True(Field(total, "keyframes") >= 1, total);
            Assert.True(Field(total, "frames") >= 90, total);

            var f = await ProbeAsync(ffprobe, h264, output.WriteLine);
            Assert.Equal(("640", "360"), (f[0], f[1]));
            AssertDecodedMatchesSaved(f, view.StandardError, out _);

            string log = agent.StandardError;
            if (cameraUdpBlocked)
            {
                Assert.Contains("UDP transport given up (no RTP datagram within", log, StringComparison.Ordinal);
                Assert.Contains("playing over TCP", log, StringComparison.Ordinal);
            }
            else
            {
                Assert.Contains("playing over UDP", log, StringComparison.Ordinal);
                Assert.DoesNotContain("UDP transport given up", log, StringComparison.Ordinal);
            }
        }
        finally
        {
            output.WriteLine("agent stderr (RTSP lines): " + string.Join('\n', agent.StandardError.Split('\n').Where(l => l.Contains("RTSP", StringComparison.Ordinal)).TakeLast(20)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }
}
