using System.Globalization;
using OspBridge.Interop.Tests.Mdns;
using OspBridge.Testing;
using OspBridge.Testing.Netns;
using Xunit.Abstractions;

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
    private readonly string _root = Directory.CreateTempSubdirectory("ospb-rtsp-udp-netns-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static string Require(string path, string package)
    {
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package {package} (./test.sh installs it as root)");
        return path;
    }

    private static int Field(string line, string key)
    {
        int i = line.IndexOf(key + "=", StringComparison.Ordinal);
        Assert.True(i >= 0, $"'{key}=' missing in: {line}");
        int end = line.IndexOf(' ', i);
        string v = end < 0 ? line[(i + key.Length + 1)..] : line[(i + key.Length + 1)..end];
        return int.Parse(v, CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RtspCamera_OverUdp_Agent_View_FfprobeDecodes(bool cameraUdpBlocked)
    {
        Assert.Null(NetnsLan.WhyUnsupported());
        string ffprobe = Require("/usr/bin/ffprobe", "ffmpeg");
        Require("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib", "gir1.2-gst-rtsp-server-1.0");
        Require("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so", "gstreamer1.0-plugins-ugly");
        Require("/usr/lib/python3/dist-packages/gi/__init__.py", "python3-gi");
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
        string agentState = Path.Combine(_root, "agent"), clientState = Path.Combine(_root, "client");

        await using var camera = cameraHost.Start("/usr/bin/python3", ["-u", Path.Combine(RepoPaths.Interop, "rtsp", "rtsp_server.py"),
            "--port", "8554", "--address", cameraHost.IPv4.ToString(), "--seconds", "600"]);
        string ready = await camera.WaitForLineAsync(l => l.StartsWith("READY ", StringComparison.Ordinal), Step);
        output.WriteLine(ready);
        var agent = OspBridgeCli.Start(deviceHost, "agent", "-v", "--name", name, "--accept-all", "--interface", "eth0", "--state-dir", agentState,
            "--camera", ready["READY ".Length..] + "?transport=udp");
        try
        {
            output.WriteLine(await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), Step));
            await CameraPairing.PairAsync(_root, clientHost, agent, name, clientState, Step);

            string h264 = Path.Combine(_root, "gate.h264");
            var view = await OspBridgeCli.RunAsync(clientHost, Step, "view", name, "--seconds", cameraUdpBlocked ? "14" : "8", "-o", h264,
                "--timeout", "60", "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine(view.StandardOutput + view.StandardError);
            Assert.True(view.ExitCode == 0, view.StandardError);
            string total = view.StandardOutput.Split('\n').Single(l => l.StartsWith("total ", StringComparison.Ordinal));
            Assert.Contains("resolution=640x360", total, StringComparison.Ordinal);
            Assert.True(Field(total, "keyframes") >= 1, total);
            Assert.True(Field(total, "frames") >= 90, total);

            var probe = await NetnsLan.RunCommandAsync(ffprobe, ["-v", "error", "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", h264], TimeSpan.FromSeconds(60));
            probe.EnsureSuccess("ffprobe");
            output.WriteLine("ffprobe: " + probe.StandardOutput.Trim());
            var f = probe.StandardOutput.Trim().Split(',');
            Assert.Equal(("640", "360"), (f[0], f[1]));
            var savedLine = view.StandardError.Split('\n').Single(l => l.StartsWith("view: saved ", StringComparison.Ordinal));
            int saved = int.Parse(savedLine.Split(' ')[2], CultureInfo.InvariantCulture);
            Assert.InRange(int.Parse(f[2], CultureInfo.InvariantCulture), saved * 95 / 100, saved * 105 / 100);

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

/// <summary>PIN pairing of a controller with an agent that prints its PIN (shared by this folder's new camera tests).</summary>
internal static class CameraPairing
{
    public static async Task PairAsync(string root, NetnsHost host, NetnsProcess agent, string peer, string state, TimeSpan step)
    {
        string fifo = Path.Combine(root, "pin-" + Guid.NewGuid().ToString("N")[..8]);
        (await NetnsLan.RunCommandAsync("mkfifo", [fifo], TimeSpan.FromSeconds(10))).EnsureSuccess("mkfifo");
        string cmd = $"exec '{OspBridgeCli.DotnetHost}' '{OspBridgeCli.Dll}' pair '{peer}' --interface eth0 --timeout 60 --state-dir '{state}' < '{fifo}'";
        var pair = host.RunAsync("sh", ["-c", cmd], step);
        await using var writer = new StreamWriter(await Task.Run(() => new FileStream(fifo, FileMode.Open, FileAccess.Write)));
        string pinLine = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), step);
        await writer.WriteLineAsync(pinLine["PIN: ".Length..]);
        await writer.FlushAsync();
        var result = await pair;
        Assert.True(result.ExitCode == 0, $"pair: {result.StandardOutput} {result.StandardError}");
    }
}
