using System.CommandLine;
using OspBridge.Net;
using OspBridge.Net.Mdns;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge webrtc camera --source test</c>: reads a browser offer (<c>{"type":"offer","sdp":...}</c>) on stdin,
/// writes the answer on stdout, and sends the source's H.264 video and Opus audio on the offered video/audio
/// m-sections until SIGTERM, the peer closes, or <c>--timeout</c>.
/// </summary>
internal sealed partial class WebRtcCommand
{
    private static Command CameraSub(CliContext context)
    {
        var iface = new Option<string[]>("--interface") { Description = "Interface(s) to gather host candidates on (default: all up, non-loopback)", AllowMultipleArgumentsPerToken = true };
        var source = new Option<string>("--source") { Description = "Media source: 'test' (ffmpeg test pattern with a clock + 440 Hz tone)", Required = true };
        var timeout = new Option<int>("--timeout") { Description = "Stop after this many seconds (0 = until SIGTERM or the peer closes)", DefaultValueFactory = _ => 0 };
        var c = new Command("camera", "Read a browser offer on stdin, print the answer, send the source's video + audio") { iface, source, timeout };
        c.SetAction(async (parseResult, ct) =>
        {
            var names = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            int seconds = (int)CliErrors.RequireSeconds("--timeout", parseResult.GetValue(timeout), 0, 86400);
            string src = parseResult.GetValue(source) ?? "";
            if (src != "test") throw new CliException($"--source: unsupported source '{TerminalText.Sanitize(src)}' (this build supports 'test')");
            if (FfmpegTestSource.WhyUnavailable() is { } why) throw new CliException("--source test: " + why);
            var offer = ParseDescription(await ReadDescriptionAsync("offer", ct).ConfigureAwait(false), RTCSdpType.Offer);
            var logger = context.Logger(parseResult, "webrtc");
            MdnsService? mdns = null;
            try { mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = names is { Length: > 0 } ? names : null, Logger = logger }); }
            catch (NetException ex) { Console.Error.WriteLine($"webrtc: no mDNS ({TerminalText.Sanitize(ex.Message)}); remote .local candidates will not be resolved"); }
            await using var mdnsOwner = mdns;
            var config = new RTCConfiguration
            {
                Interfaces = names is { Length: > 0 } ? names : null,
                MdnsHostNames = mdns is null ? null : new MdnsServiceHostNames(mdns, logger),
                ObfuscateHostCandidates = false,
            };
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (seconds > 0) cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            return await RunCameraAsync(config, new RTCPeerConnectionOptions { Logger = logger }, offer, cts.Token).ConfigureAwait(false);
        });
        return c;
    }

    internal static async Task<int> RunCameraAsync(RTCConfiguration config, RTCPeerConnectionOptions options, RTCSessionDescription offer, CancellationToken ct)
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
        var video = pc.GetTransceivers().FirstOrDefault(t => t.Kind == MediaKind.Video);
        var audio = pc.GetTransceivers().FirstOrDefault(t => t.Kind == MediaKind.Audio);
        if (video is null && audio is null) throw new CliException("offer on stdin: no audio or video m-section to send the camera on");
        RTCRtpSender? vs = video is null ? null : await pc.AddTrackAsync(MediaKind.Video, ct).ConfigureAwait(false);
        RTCRtpSender? aus = audio is null ? null : await pc.AddTrackAsync(MediaKind.Audio, ct).ConfigureAwait(false);
        var answer = await pc.CreateAnswerAsync(ct).ConfigureAwait(false);
        await pc.SetLocalDescriptionAsync(answer, ct).ConfigureAwait(false);
        await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
        await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
        foreach (var t in pc.GetTransceivers())
            Console.Error.WriteLine($"webrtc: mid {t.Mid} {t.Kind} {t.CurrentDirection} {t.Codec?.RtpMap ?? "rejected"}");
        if (vs is not null) vs.KeyframeRequested += () => Console.Error.WriteLine("webrtc: keyframe requested (next IDR within the source's GOP)");
        await using var camera = new FfmpegTestSource();
        long frames = 0;
        camera.Start(f =>
        {
            var sender = f.Codec == MediaCodec.H264 ? vs : aus;
            if (sender?.WriteFrame(f) == true && f.Codec == MediaCodec.H264 && Interlocked.Increment(ref frames) % 300 == 0)
                Console.Error.WriteLine($"webrtc: {frames} video frames sent");
        }, line => Console.Error.WriteLine(line));
        try
        {
            return await done.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return 0; // SIGTERM / --timeout: a normal end for a camera
        }
    }
}
