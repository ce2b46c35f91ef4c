using OspBridge.Interop.Tests.Mdns;
using OspBridge.Testing;

namespace OspBridge.Interop.Tests.Media;

/// <summary>
/// The namespace set-up the camera interop tests share (CameraNetnsTests, RtspUdpNetnsTests): prerequisite checks that
/// fail with the Debian package to install, the GStreamer RTSP camera stand-in started in a namespace, PIN pairing of a
/// controller with an agent that prints its PIN, the <c>view</c> summary fields and ffprobe on the saved .h264.
/// </summary>
internal static class CameraNetnsSetup
{
    public static string Require(string path, string package)
    {
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package {package} (./test.sh installs it as root)");
        return path;
    }

    /// <summary>Checks the stand-in's packages (GStreamer RTSP server, x264, python3-gi).</summary>
    public static void RequireRtspStandIn()
    {
        Require("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib", "gir1.2-gst-rtsp-server-1.0");
        Require("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so", "gstreamer1.0-plugins-ugly");
        Require("/usr/lib/python3/dist-packages/gi/__init__.py", "python3-gi");
    }

    /// <summary>
    /// Starts interop/rtsp/rtsp_server.py in <paramref name="host"/> on port 8554 (<paramref name="address"/>: its
    /// <c>--address</c>, default the namespace's loopback) and waits for its READY line; returns the process and that line.
    /// </summary>
    public static async Task<(NetnsProcess Camera, string Ready)> StartRtspCameraAsync(NetnsHost host, TimeSpan step, string? address = null)
    {
        var args = new List<string> { "-u", Path.Combine(RepoPaths.Interop, "rtsp", "rtsp_server.py"), "--port", "8554" };
        if (address is not null)
            args.AddRange(["--address", address]);
        args.AddRange(["--seconds", "600"]);
        var camera = host.Start("/usr/bin/python3", args);
        string ready = await camera.WaitForLineAsync(l => l.StartsWith("READY ", StringComparison.Ordinal), step);
        return (camera, ready);
    }

    /// <summary>The integer after <c>key=</c> in a <c>view</c> summary line.</summary>
    public static int Field(string line, string key)
    {
        int i = line.IndexOf(key + "=", StringComparison.Ordinal);
        Assert.True(i >= 0, $"'{key}=' missing in: {line}");
        int end = line.IndexOf(' ', i);
        string v = end < 0 ? line[(i + key.Length + 1)..] : line[(i + key.Length + 1)..end];
        return int.Parse(v, CultureInfo.InvariantCulture);
    }

    /// <summary>PIN pairing of a controller in <paramref name="host"/> with an agent that prints its PIN.</summary>
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

    /// <summary>
    /// Starts <c>agent --name <paramref name="name"/> --accept-all --interface eth0 --state-dir <paramref name="agentState"/></c>
    /// plus <paramref name="extra"/> in <paramref name="deviceHost"/>, logs its <c>agent</c> line and PIN-pairs a controller
    /// in <paramref name="clientHost"/> (state <paramref name="clientState"/>) with it. When that fails, the agent's
    /// stderr tail is logged and the agent stopped.
    /// </summary>
    public static async Task<NetnsProcess> StartPairedAgentAsync(string root, NetnsHost deviceHost, NetnsHost clientHost, string name,
        string agentState, string clientState, TimeSpan step, Action<string> log, params string[] extra)
    {
        var agent = OspBridgeCli.Start(deviceHost, ["agent", "--name", name, "--accept-all", "--interface", "eth0", "--state-dir", agentState, .. extra]);
        try
        {
            log(await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), step));
            await PairAsync(root, clientHost, agent, name, clientState, step);
            return agent;
        }
        catch
        {
            log("agent stderr (tail): " + string.Join('\n', agent.StandardError.Split('\n').TakeLast(30)));
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// ffprobe's decoded frame count (<paramref name="probe"/> from <see cref="ProbeAsync"/>) is within 5 % of what
    /// <c>view</c> said it saved (its <c>view: saved N</c> stderr line); returns that saved count.
    /// </summary>
    public static int AssertDecodedMatchesSaved(string[] probe, string viewStandardError, out string savedLine)
    {
        savedLine = viewStandardError.Split('\n').Single(l => l.StartsWith("view: saved ", StringComparison.Ordinal));
        int saved = int.Parse(savedLine.Split(' ')[2], CultureInfo.InvariantCulture);
        Assert.InRange(int.Parse(probe[2], CultureInfo.InvariantCulture), saved * 95 / 100, saved * 105 / 100);
        return saved;
    }

    /// <summary>ffprobe on a saved .h264: width, height and decoded frame count, as text fields.</summary>
    public static async Task<string[]> ProbeAsync(string ffprobe, string h264, Action<string> log)
    {
        var probe = await NetnsLan.RunCommandAsync(ffprobe, ["-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", h264], TimeSpan.FromSeconds(60));
        probe.EnsureSuccess("ffprobe");
        log("ffprobe: " + probe.StandardOutput.Trim());
        return probe.StandardOutput.Trim().Split(',');
    }
}
