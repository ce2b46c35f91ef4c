using System.CommandLine;
using OspBridge.Bridge.Camera;
using OspBridge.Media;
using OspBridge.Media.Sources;
using OspBridge.Net;
using OspBridge.Net.Mdns;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Ice;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge webrtc camera --source &lt;source&gt; [--talk-sink &lt;file.ogg|exec:cmd&gt;]</c>: reads a browser offer
/// (<c>{"type":"offer","sdp":...}</c>) on stdin, writes the answer on stdout, and sends the source's video and audio
/// (any <see cref="MediaSource"/>: <c>test</c>, <c>test:1080p</c>, <c>exec:</c>, <c>rtsp://</c>) on the offered
/// video/audio m-sections — the same <see cref="CameraService"/> as <c>agent --camera</c>, so audio the peer sends is
/// talk-back — until SIGTERM, the peer closes, or <c>--timeout</c>.
/// </summary>
internal sealed partial class WebRtcCommand
{
    private static Command CameraSub(CliContext context)
    {
        var iface = new Option<string[]>("--interface") { Description = "Interface(s) to gather host candidates on (default: all up, non-loopback)", AllowMultipleArgumentsPerToken = true };
        var source = new Option<string>("--source") { Description = "Media source: test (ffmpeg test pattern with a clock + 440 Hz tone), test:1080p, exec:<command>, rtsp://[user:pass@]host[:port]/path", Required = true };
        var talkSink = new Option<string?>("--talk-sink") { Description = "Where the peer's audio (talk-back) goes: an Ogg Opus file or exec:<command>; default: counted only" };
        var timeout = new Option<int>("--timeout") { Description = "Stop after this many seconds (0 = until SIGTERM or the peer closes)", DefaultValueFactory = _ => 0 };
        var c = new Command("camera", "Read a browser offer on stdin, print the answer, send the source's video + audio") { iface, source, talkSink, timeout };
        c.SetAction(async (parseResult, ct) =>
        {
            var names = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            int seconds = (int)CliErrors.RequireSeconds("--timeout", parseResult.GetValue(timeout), 0, 86400);
            string src = parseResult.GetValue(source) ?? "";
            string? sink = parseResult.GetValue(talkSink);
            if (sink is not null && string.IsNullOrWhiteSpace(sink)) throw new CliException("--talk-sink must not be empty (a file.ogg or exec:<command>)");
            if (src.StartsWith("test", StringComparison.Ordinal) && WhyNoFfmpeg() is { } why) throw new CliException("--source test: " + why);
            var logger = context.Logger(parseResult, "webrtc");
            CameraService camera;
            try
            {
                camera = new CameraService(src, names, context.Logger(parseResult, "camera"), null, maxViewers: 1, talkSink: sink, output: line => Console.Error.WriteLine("webrtc: " + line));
            }
            catch (MediaException ex)
            {
                throw new CliException($"--source/--talk-sink: {TerminalText.Sanitize(ex.Message)}");
            }
            await using var cameraOwner = camera;
            var offer = ParseDescription(await ReadDescriptionAsync("offer", ct).ConfigureAwait(false), RTCSdpType.Offer);
            await using var mdns = StartMdns(names, logger);
            var config = Configuration(names, mdns, logger);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (seconds > 0) cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            return await RunCameraAsync(camera, config, new RTCPeerConnectionOptions { Logger = logger }, offer, cts.Token).ConfigureAwait(false);
        });
        return c;
    }

    /// <summary>Null when ffmpeg is on PATH, else why the test camera cannot run.</summary>
    internal static string? WhyNoFfmpeg() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "ffmpeg")))
            ? null : "ffmpeg is not installed (apt-get install ffmpeg)";

    internal static async Task<int> RunCameraAsync(CameraService camera, RTCConfiguration config, RTCPeerConnectionOptions options, RTCSessionDescription offer, CancellationToken ct)
    {
        await using var pc = new RTCPeerConnection(config, options);
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        pc.OnConnectionStateChange += s =>
        {
            Console.Error.WriteLine($"webrtc: connection {s}");
            if (s == RTCPeerConnectionState.Closed) done.TrySetResult(0);
            if (s == RTCPeerConnectionState.Failed) done.TrySetResult(1);
        };
        await Remote("offer", () => pc.SetRemoteDescriptionAsync(offer, ct)).ConfigureAwait(false);
        var media = await camera.AttachAsync(pc, "webrtc-peer", offer.Sdp, ct).ConfigureAwait(false);
        if (!media.Any) throw new CliException("offer on stdin: no audio or video m-section to send the camera on or receive talk-back from");
        var answer = await pc.CreateAnswerAsync(ct).ConfigureAwait(false);
        await pc.SetLocalDescriptionAsync(answer, ct).ConfigureAwait(false);
        await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
        await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
        foreach (var t in pc.GetTransceivers())
            Console.Error.WriteLine($"webrtc: mid {t.Mid} {t.Kind} {t.CurrentDirection} {t.Codec?.RtpMap ?? "rejected"}");
        if (media.Video is { } vs) vs.KeyframeRequested += () => Console.Error.WriteLine("webrtc: keyframe requested (next IDR within the source's GOP)");
        try
        {
            return await done.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return 0; // SIGTERM / --timeout: a normal end for a camera
        }
        finally
        {
            Console.Error.WriteLine($"webrtc: video frames sent {media.Video?.FramesSent ?? 0}, audio frames sent {media.Audio?.FramesSent ?? 0}");
        }
    }
}
