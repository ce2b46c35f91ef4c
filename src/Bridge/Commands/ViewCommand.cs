using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Signaling;
using OspBridge.Crypto.Identity;
using OspBridge.Media;
using OspBridge.Media.Formats;
using OspBridge.Media.Sources;
using OspBridge.Media.Writers;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Signaling;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge view &lt;peer&gt; [--seconds &lt;n&gt;] [-o &lt;file.h264&gt;] [--audio-out &lt;file.ogg&gt;] [--timeout &lt;s&gt;]
/// [--interface &lt;if&gt;]... [--talk &lt;source&gt;]</c>: pulls the camera of a paired agent (<c>agent --camera</c>) over WebRTC signaled on the
/// authenticated LP2P session (offer: recvonly video, recvonly audio, sendonly talk-back audio), writes the H.264
/// elementary stream (Annex B, from the first keyframe) and the audio (Ogg Opus), prints one <c>video ...</c> line per
/// second and a final <c>total ...</c> line (frames, keyframes, resolution, fps, bitrate); exit 0 only if at least one
/// keyframe arrived. With <c>--talk</c> the source's Opus audio is sent on the talk-back section while watching.
/// </summary>
internal sealed class ViewCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var peer = new Argument<string>("peer") { Description = "A paired agent serving a camera: name, id or fingerprint prefix" };
        var seconds = new Option<double>("--seconds") { Description = "How long to watch", DefaultValueFactory = _ => 10 };
        var output = new Option<FileInfo?>("-o", "--output") { Description = "Write the H.264 elementary stream (Annex B) here" };
        var audioOut = new Option<FileInfo?>("--audio-out") { Description = "Write the Opus audio (Ogg) here" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to find, connect and get the answer", DefaultValueFactory = _ => 30 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse and gather candidates on (repeatable; default: all)", Arity = ArgumentArity.ZeroOrMore };
        var talk = new Option<string?>("--talk") { Description = "Send this source's audio as talk-back while viewing: test (a 440 Hz tone), an Ogg Opus file (x.ogg), exec:<command> or rtsp://… (its Opus audio)" };
        var viewers = new Option<int>("--viewers") { Description = "Watch with this many WebRTC peer connections at once over the one LP2P session (fan-out test; files and per-second lines are for the first)", DefaultValueFactory = _ => 1 };
        var command = new Command("view", "Watch a paired agent's camera over WebRTC (LAN signaling); print frame statistics, optionally save the streams")
        {
            peer, seconds, output, audioOut, timeout, iface, viewers, talk,
        };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            string which = parseResult.GetValue(peer)!;
            double watch = parseResult.GetValue(seconds);
            if (watch is <= 0 or > 86400) throw new CliException("--seconds must be between 0 and 86400");
            int count = parseResult.GetValue(viewers);
            if (count is < 1 or > 32) throw new CliException("--viewers must be between 1 and 32");
            TimeSpan limit = TrustedPeerSession.RequireTimeout(parseResult.GetValue(timeout));
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            string? videoPath = parseResult.GetValue(output)?.FullName;
            string? audioPath = parseResult.GetValue(audioOut)?.FullName;
            var log = context.Logger(parseResult, "view");
            await using var talkSource = CreateTalkSource(parseResult.GetValue(talk), log);
            await using var session = await TrustedPeerSession.ConnectAsync(context, parseResult, which, interfaces, limit, ct);
            if (session is null) return 1;

            var pcs = new List<RTCPeerConnection>();
            try
            {
                var tracks = new List<(RTCRtpTransceiver Video, RTCRtpTransceiver Audio)>();
                RTCRtpTransceiver? talkBack = null;
                using (var signaling = new LanSignalingSession(session.Connection.Connection, new LanSignalingOptions { AnswerTimeout = limit }, log))
                {
                    for (int i = 0; i < count; i++)
                    {
                        var pc = new RTCPeerConnection(new RTCConfiguration { Interfaces = interfaces, ObfuscateHostCandidates = false },
                            new RTCPeerConnectionOptions { Logger = context.Logger(parseResult, "webrtc") });
                        pcs.Add(pc);
                        var video = await pc.AddTransceiverAsync(MediaKind.Video, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly }, ct);
                        var audio = await pc.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.RecvOnly }, ct);
                        var tb = await pc.AddTransceiverAsync(MediaKind.Audio, new RTCRtpTransceiverInit { Direction = RTCRtpTransceiverDirection.SendOnly }, ct); // talk-back
                        talkBack ??= tb;
                        using var offerTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        offerTimeout.CancelAfter(limit);
                        await LanSignaling.OfferAsync(signaling, pc, "camera", limit, offerTimeout.Token);
                        tracks.Add((video, audio));
                    }
                }
                Console.Error.WriteLine($"view: video {tracks[0].Video.Codec?.RtpMap ?? "rejected"}, audio {tracks[0].Audio.Codec?.RtpMap ?? "rejected"}");

                await using var videoFile = videoPath is null ? null : new AnnexBFileWriter(File.Create(videoPath));
                await using var audioFile = audioPath is null ? null : new OggOpusWriter(File.Create(audioPath));
                using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                watchCts.CancelAfter(TimeSpan.FromSeconds(watch));
                var clock = Stopwatch.StartNew();
                var stats = tracks.Select(_ => new ViewStats()).ToArray();
                var reporter = ReportAsync(stats[0], clock, watchCts.Token);
                long talkFrames = 0;
                if (talkSource is not null && talkBack is not null)
                {
                    var sender = talkBack.Sender;
                    Console.Error.WriteLine($"view: talk-back {talkBack.CurrentDirection} {talkBack.Codec?.RtpMap ?? "rejected"}");
                    talkSource.FrameReceived = f =>
                    {
                        if (f.Codec == MediaCodec.Opus && sender.WriteFrame(f))
                            Interlocked.Increment(ref talkFrames);
                    };
                    await talkSource.StartAsync(ct);
                }
                var work = new List<Task>();
                for (int i = 0; i < tracks.Count; i++)
                {
                    var (video, audio) = tracks[i];
                    var st = stats[i];
                    bool first = i == 0;
                    work.Add(ReadAudioAsync(audio.Receiver, first ? audioFile : null, st, watchCts.Token));
                    work.Add(ReadVideoAsync(video.Receiver, first ? videoFile : null, st, watchCts.Token));
                }
                await Task.WhenAll(work);
                await reporter;
                if (talkSource is not null)
                {
                    await talkSource.StopAsync(CancellationToken.None);
                    Console.Error.WriteLine($"view: talk-back sent {Interlocked.Read(ref talkFrames)} audio frames");
                }
                foreach (var st in stats)
                    Console.Out.WriteLine("total " + st.Line(clock.Elapsed.TotalSeconds));
                if (videoFile is not null)
                    Console.Error.WriteLine($"view: saved {videoFile.Frames} video frames ({videoFile.Keyframes} keyframes) from the first keyframe on; {videoFile.SkippedBeforeKeyframe} earlier frames skipped");
                return stats.All(st => st.Keyframes > 0) ? 0 : 1;
            }
            finally
            {
                foreach (var pc in pcs)
                    await pc.DisposeAsync();
            }
        }));
        return command;
    }

    /// <summary>The <c>--talk</c> source (<c>test</c> means the tone alone), validated before anything connects; null without the option.</summary>
    private static IMediaSource? CreateTalkSource(string? spec, Microsoft.Extensions.Logging.ILogger log)
    {
        if (spec is null)
            return null;
        if (string.IsNullOrWhiteSpace(spec))
            throw new CliException("--talk must not be empty (test, file.ogg, exec:<command>, rtsp://…)");
        if (spec.StartsWith("test", StringComparison.Ordinal) && WebRtcCommand.WhyNoFfmpeg() is { } why)
            throw new CliException("--talk test: " + why);
        try
        {
            return MediaSource.Create(spec == "test" ? "test:audio" : spec, new MediaSourceOptions { LoggerFactory = new Camera.CameraCli.SingleLoggerFactory(log) });
        }
        catch (MediaException ex)
        {
            throw new CliException($"--talk: {TerminalText.Sanitize(ex.Message)}");
        }
    }

    private static async Task ReadVideoAsync(RTCRtpReceiver receiver, AnnexBFileWriter? file, ViewStats stats, CancellationToken ct)
    {
        try
        {
            await foreach (var frame in receiver.ReadAllAsync(ct))
            {
                stats.OnVideo(frame);
                if (file is not null) await file.WriteAsync(frame, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task ReadAudioAsync(RTCRtpReceiver receiver, OggOpusWriter? file, ViewStats stats, CancellationToken ct)
    {
        try
        {
            await foreach (var frame in receiver.ReadAllAsync(ct))
            {
                Interlocked.Increment(ref stats.AudioFrames);
                if (file is not null && frame.Codec == MediaCodec.Opus) await file.WriteAsync(frame.Data, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task ReportAsync(ViewStats stats, Stopwatch clock, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await timer.WaitForNextTickAsync(ct))
                Console.Out.WriteLine("video " + stats.Line(clock.Elapsed.TotalSeconds));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>What arrived; video counters are written by one reader task, read by the reporter.</summary>
    private sealed class ViewStats
    {
        public long AudioFrames;
        private long _frames;
        private long _keyframes;
        private long _bytes;
        private int _width;
        private int _height;

        public long Keyframes => Interlocked.Read(ref _keyframes);

        public void OnVideo(EncodedFrame frame)
        {
            Interlocked.Increment(ref _frames);
            Interlocked.Add(ref _bytes, frame.Data.Length);
            if (!frame.IsKeyframe) return;
            Interlocked.Increment(ref _keyframes);
            foreach (var nal in new AnnexBNalUnits(frame.Data.Span))
            {
                if (AnnexBNalUnits.H264Type(nal) == H264NalType.Sps && H264SpsInfo.TryParse(nal, out var sps))
                {
                    _width = sps.Width;
                    _height = sps.Height;
                }
            }
        }

        public string Line(double seconds)
        {
            long frames = Interlocked.Read(ref _frames);
            double fps = seconds > 0 ? frames / seconds : 0;
            double kbps = seconds > 0 ? Interlocked.Read(ref _bytes) * 8 / seconds / 1000 : 0;
            return string.Create(CultureInfo.InvariantCulture,
                $"frames={frames} keyframes={Keyframes} resolution={_width}x{_height} fps={fps:0.0} bitrate={kbps:0}kbit/s audio={Interlocked.Read(ref AudioFrames)}");
        }
    }
}
