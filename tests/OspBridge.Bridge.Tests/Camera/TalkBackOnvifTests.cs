using System.Diagnostics;
using System.Globalization;
using OspBridge.Bridge.Camera;
using OspBridge.Bridge.Commands;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Tests.Camera;

/// <summary>
/// Talk-back to the camera's ONVIF back channel, end to end on 127.0.0.1: a controller shaped like <c>view --talk test</c>
/// (recvonly video + recvonly audio + sendonly talk-back fed from MediaSource <c>test:audio</c>, a 660 Hz tone) → the
/// agent's <see cref="CameraService"/> whose camera is GStreamer's RTSPOnvifServer (interop/rtsp/rtsp_server.py
/// --backchannel) → our RTSP client's back channel (Opus → PCMU, RTP over the RTSP connection) → the server's
/// rtppcmudepay ! mulawdec → a raw PCM file: ≥ 3 s of audio with the tone's frequency. The <c>--talk-sink</c> file is
/// the fallback only and stays unwritten.
/// </summary>
public sealed class TalkBackOnvifTests(ITestOutputHelper output) : TalkBackTestBase(output, "ospb-onvif-talk-", 60)
{
    [Fact]
    public async Task View_shaped_talk_back_reaches_the_onvif_cameras_back_channel_as_the_tone()
    {
        Assert.Null(WebRtcCommand.WhyNoFfmpeg());
        foreach (var (file, package) in new[]
        {
            ("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib", "gir1.2-gst-rtsp-server-1.0"),
            ("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so", "gstreamer1.0-plugins-ugly"),
            ("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstmulaw.so", "gstreamer1.0-plugins-good"),
            ("/usr/lib/python3/dist-packages/gi/__init__.py", "python3-gi"),
        })
            Assert.True(File.Exists(file), $"{file} is missing: install the Debian package {package} (./test.sh installs it when run as root)");
        string raw = Path.Combine(Rig.Folder, "back.raw");
        string ogg = Path.Combine(Rig.Folder, "fallback.ogg");
        using var server = await StartOnvifCameraAsync(raw);

        var loggerFactory = new CameraCli.SingleLoggerFactory(Logger("cam "));
        await using var camera = new CameraService(server.Url, null, Logger("cam "), loggerFactory, maxViewers: 4, talkSink: ogg,
            output: Rig.Output);
        await using var controller = new RTCPeerConnection(Loopback, new RTCPeerConnectionOptions { Logger = Logger("ctl ") });
        var video = await controller.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly });
        var talk = await controller.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly });
        var (device, media) = await TalkBackRig.AnswerAsync(camera, controller, new RTCPeerConnectionOptions { Logger = Logger("dev ") });
        await using var deviceOwner = device;
        Assert.Single(media.TalkBack);

        // talk once the camera plays (its back channel exists from PLAY on): ≥ 4.5 s of tone
        long videoFrames = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var reader = Task.Run(async () =>
        {
            await foreach (var f in video.Receiver.ReadAllAsync(cts.Token)) Interlocked.Increment(ref videoFrames);
        });
        while (Interlocked.Read(ref videoFrames) < 10 && !cts.IsCancellationRequested) await Task.Delay(100);
        Assert.True(videoFrames >= 10, $"the viewer got only {videoFrames} video frames from the ONVIF camera");
        long sent = await SendToneAsync(talk, 230, cts.Token);
        long want = 8000 * 3 * 2;
        for (int i = 0; i < 100 && (!File.Exists(raw) || new FileInfo(raw).Length < want); i++) await Task.Delay(50);
        await controller.DisposeAsync();
        var line = await Rig.WaitForTalkLineAsync(device);
        await cts.CancelAsync();
        try { await reader; } catch (OperationCanceledException) { }
        Output.WriteLine($"sent {sent} talk-back packets; {line.Value}; video frames {videoFrames}");
        Assert.True(Rig.Logged("goes to the camera's ONVIF back channel"), "the agent did not log that talk-back goes to the camera's ONVIF back channel");

        Assert.True(File.Exists(raw), "the ONVIF camera wrote no back-channel audio");
        byte[] bytes = await File.ReadAllBytesAsync(raw);
        var pcm = new short[bytes.Length / 2];
        Buffer.BlockCopy(bytes, 0, pcm, 0, pcm.Length * 2);
        Output.WriteLine($"camera decoded {pcm.Length / 8000.0:0.00} s of back-channel audio");
        Assert.True(pcm.Length >= 8000 * 3, $"only {pcm.Length / 8000.0:0.00} s of audio reached the camera's back channel");
        var steady = pcm.Skip(4000).Take(8000).SelectMany(s => Enumerable.Repeat((double)s, 6)).ToArray(); // 8 kHz held → 48 kHz
        double rms = Math.Sqrt(steady.Sum(x => x * x) / steady.Length);
        int hz = OspBridge.Testing.Audio.ToneAnalysis.StrongestTone(steady);
        Output.WriteLine($"rms {rms:F0}, strongest tone {hz} Hz");
        Assert.True(rms > 300, $"the camera decoded near silence (rms {rms:F0})");
        Assert.InRange(hz, ToneHz - 10, ToneHz + 10);
        Assert.False(File.Exists(ogg) && new FileInfo(ogg).Length > 0, "talk-back also went to the --talk-sink fallback file");
    }

    private sealed class OnvifCamera(Process process, string url) : IDisposable
    {
        public string Url { get; } = url;

        public void Dispose()
        {
            if (!process.HasExited)
                process.Kill(true);
            process.WaitForExit(10_000);
            process.Dispose();
        }
    }

    private static async Task<OnvifCamera> StartOnvifCameraAsync(string raw)
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "-u", Path.Combine(RepoPaths.Interop, "rtsp", "rtsp_server.py"), "--port", port.ToString(CultureInfo.InvariantCulture), "--backchannel", raw, "--seconds", "120" })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? ready = await p.StandardOutput.ReadLineAsync(cts.Token);
        if (ready is null || !ready.StartsWith("READY ", StringComparison.Ordinal))
        {
            p.Kill(true);
            Assert.Fail($"the ONVIF camera stand-in did not start: {ready} {await p.StandardError.ReadToEndAsync(CancellationToken.None)}");
        }
        _ = p.StandardError.ReadToEndAsync(CancellationToken.None);
        return new OnvifCamera(p, ready!["READY ".Length..]);
    }
}
