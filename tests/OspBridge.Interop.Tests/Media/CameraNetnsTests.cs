using OspBridge.Interop.Tests.Mdns;
using OspBridge.Testing;
using static OspBridge.Interop.Tests.Media.CameraNetnsSetup;

namespace OspBridge.Interop.Tests.Media;

/// <summary>
/// Issue 12 must-show 2 with the real CLI: a GStreamer RTSP camera stand-in (interop/rtsp/rtsp_server.py, 640x360 H.264 +
/// Opus, on the device namespace's loopback) → <c>agent --camera rtsp://…</c> → <c>view</c> in another namespace over
/// LAN-signaled WebRTC; ffprobe decodes the saved .h264 at the source's resolution with the frame count within 5 %;
/// and the same source to 10 viewers at once (<c>view --viewers 10</c>: ten peer connections over one LP2P session).
/// </summary>
public sealed class CameraNetnsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private readonly TestDirectory _root = new("ospb-camera-netns");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task RtspCamera_Agent_View_InAnotherNamespace_FfprobeDecodes()
    {
        Assert.Null(NetnsLan.WhyUnsupported());
        string ffprobe = Require("/usr/bin/ffprobe", "ffmpeg");
        RequireRtspStandIn();
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        string name = "Front Door";
        string agentState = _root["agent"], clientState = _root["client"];

        var (camera, ready) = await StartRtspCameraAsync(deviceHost, Step);
        await using var cameraOwner = camera;
        output.WriteLine(ready);
        var agent = await StartPairedAgentAsync(_root.Path, deviceHost, clientHost, name, agentState, clientState, Step, output.WriteLine,
            "--camera", ready["READY ".Length..]);
        try
        {

            // One viewer, saving the streams.
            string h264 = _root["front.h264"], ogg = _root["front.ogg"];
            var view = await OspBridgeCli.RunAsync(clientHost, Step, "view", name, "--seconds", "8", "-o", h264, "--audio-out", ogg,
                "--timeout", "60", "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine(view.StandardOutput + view.StandardError);
            Assert.True(view.ExitCode == 0, view.StandardError);
            string total = view.StandardOutput.Split('\n').Single(l => l.StartsWith("total ", StringComparison.Ordinal));
            Assert.Contains("resolution=640x360", total, StringComparison.Ordinal);
            int frames = Field(total, "frames");
            Assert.True(Field(total, "keyframes") >= 1, total);
            Assert.True(frames >= 100, total); // ~8 s at 30 fps, minus connection set-up
            Assert.True(Field(total, "audio") > 50, total);

            var f = await ProbeAsync(ffprobe, h264, output.WriteLine);
            Assert.Equal("640", f[0]);
            Assert.Equal("360", f[1]);
            // The file starts at the first keyframe (frames before it cannot be decoded and are not written), so ffprobe's
            // count is compared with what view saved; received-but-skipped frames are bounded separately.
            int saved = AssertDecodedMatchesSaved(f, view.StandardError, out string savedLine);
            Assert.True(saved >= frames - 45, savedLine + " / " + total); // at most ~1.5 s (one keyframe interval + set-up) before the first keyframe

        }
        finally
        {
            output.WriteLine("agent stderr (tail): " + string.Join('\n', agent.StandardError.Split('\n').TakeLast(30)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task RtspCamera_Agent_TenViewersAtOnce()
    {
        Assert.Null(NetnsLan.WhyUnsupported());
        RequireRtspStandIn();
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        string name = "Front Door";
        string agentState = _root["agent"], clientState = _root["client"];

        var (camera, ready) = await StartRtspCameraAsync(deviceHost, Step);
        await using var cameraOwner = camera;
        output.WriteLine(ready);
        var agent = await StartPairedAgentAsync(_root.Path, deviceHost, clientHost, name, agentState, clientState, Step, output.WriteLine,
            "--camera", ready["READY ".Length..]);
        try
        {

            // Ten WebRTC viewers at once, over one LP2P session (view --viewers 10): ten peer connections, ten hub sinks.
            var sw = Stopwatch.StartNew();
            var ten = await OspBridgeCli.RunAsync(clientHost, TimeSpan.FromSeconds(240), "view", name, "--seconds", "10", "--viewers", "10",
                "--timeout", "120", "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine($"10 viewers in {sw.Elapsed.TotalSeconds:0.0} s:\n{ten.StandardOutput}{ten.StandardError}");
            Assert.True(ten.ExitCode == 0, ten.StandardError);
            var totals = ten.StandardOutput.Split('\n').Where(l => l.StartsWith("total ", StringComparison.Ordinal)).ToList();
            Assert.Equal(10, totals.Count);
            foreach (string line in totals)
            {
                Assert.True(Field(line, "keyframes") >= 1, line);
                Assert.True(Field(line, "frames") >= 150, line); // 10 s at 30 fps, minus set-up
                Assert.Contains("resolution=640x360", line, StringComparison.Ordinal);
            }
            Assert.True(agent.StandardOutputLines.Count(l => l.StartsWith("viewer ", StringComparison.Ordinal) && l.Contains("started", StringComparison.Ordinal)) >= 10);
        }
        finally
        {
            output.WriteLine("agent stderr (tail): " + string.Join('\n', agent.StandardError.Split('\n').TakeLast(30)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }

    /// <summary>
    /// Issue 12 talk-back with the real CLI in two namespaces: <c>agent --camera test --talk-sink x.ogg</c> and
    /// <c>view --talk test</c> (a 440 Hz tone): the agent prints its per-session line with ≥ 3 s of audio, and the sink
    /// file decodes (Concentus) to the tone.
    /// </summary>
    [Fact]
    public async Task TestCamera_Agent_TalkSink_Receives_View_Talk_Tone()
    {
        Assert.Null(NetnsLan.WhyUnsupported());
        Require("/usr/bin/ffmpeg", "ffmpeg");
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost deviceHost = lan.Hosts[0], clientHost = lan.Hosts[1];
        string name = "Talk Door";
        string agentState = _root["agent"], clientState = _root["client"];
        string sink = _root["talk.ogg"];
        var agent = await StartPairedAgentAsync(_root.Path, deviceHost, clientHost, name, agentState, clientState, Step, output.WriteLine,
            "--camera", "test", "--talk-sink", sink, "--max-viewers", "4");
        try
        {
            var view = await OspBridgeCli.RunAsync(clientHost, Step, "view", name, "--seconds", "7", "--talk", "test",
                "--timeout", "60", "--interface", "eth0", "--state-dir", clientState);
            output.WriteLine(view.StandardOutput + view.StandardError);
            Assert.True(view.ExitCode == 0, view.StandardError);
            Assert.Contains(view.StandardError.Split('\n'), l => l.StartsWith("view: talk-back sent ", StringComparison.Ordinal));
            string line = await agent.WaitForLineAsync(l => l.StartsWith("talk-back from ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            output.WriteLine(line);
            var m = System.Text.RegularExpressions.Regex.Match(line, @"^talk-back from (\S+): (\d+) packets, (\d+\.\d) s audio$");
            Assert.True(m.Success, line);
            Assert.True(int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) >= 150, line);
            Assert.True(double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) >= 3.0, line);

            var reader = new OspBridge.Media.Formats.OggOpusReader();
            byte[] data = await File.ReadAllBytesAsync(sink);
            var decoder = Concentus.OpusCodecFactory.CreateDecoder(48000, 2);
            var pcm = new List<double>();
            var frame = new short[5760 * 2];
            int at = 0;
            while (at < data.Length)
            {
                int n = reader.Write(data.AsSpan(at));
                at += n;
                bool any = false;
                while (reader.TryRead(out var packet, out _))
                {
                    any = true;
                    int samples = decoder.Decode(packet, frame, 5760, false);
                    for (int i = 0; i < samples; i++) pcm.Add(frame[2 * i]);
                }
                Assert.True(n > 0 || any, "Ogg reader stalled");
            }
            output.WriteLine($"{sink}: {pcm.Count / 48000.0:0.00} s decoded");
            Assert.True(pcm.Count >= 48000 * 3, $"only {pcm.Count / 48000.0:0.00} s in the talk-back sink");
            var second = pcm.Skip(24000).Take(48000).ToArray();
            int bestHz = OspBridge.Testing.Audio.ToneAnalysis.StrongestTone(second);
            output.WriteLine($"strongest tone {bestHz} Hz");
            Assert.InRange(bestHz, 435, 445);
        }
        finally
        {
            output.WriteLine("agent stdout: " + string.Join('\n', agent.StandardOutputLines));
            output.WriteLine("agent stderr (tail): " + string.Join('\n', agent.StandardError.Split('\n').TakeLast(30)));
            await agent.DisposeAsync();
        }
        guard.AssertNoLeak();
    }
}
