using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// The built-in test camera (<c>test</c>): ffmpeg's lavfi <c>testsrc2</c> pattern (moving, with a frame counter
/// drawn by ffmpeg's own pattern) encoded by libx264 (baseline, zerolatency, a keyframe every half second — ffmpeg
/// cannot be asked for one, so a viewer's PLI is answered by the next scheduled IDR within 0.5 s — access unit
/// delimiters) as Annex B on a pipe, plus a <c>sine</c> 440 Hz tone as Ogg Opus on a second ffmpeg's pipe.
/// Timestamps come from the frame count (video) and the Opus sample count (audio), never from a clock. ffmpeg runs
/// with <c>-re</c> so frames arrive in real time.
/// </summary>
internal sealed class TestCameraSource : MediaSourceBase
{
    private readonly MediaSourceOptions _options;
    private readonly SupervisedProcess? _video;
    private readonly SupervisedProcess? _audio;
    private readonly H264StreamIngest _ingest;
    private readonly OggOpusReader[] _ogg = [new()];
    private long _frameIndex;
    private long _audioBase;
    private long _audioLast;

    public TestCameraSource(MediaSourceOptions options)
    {
        _options = options;
        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger("OspBridge.Media.TestCamera");
        _ingest = new H264StreamIngest(NextVideoTimestamp, f => Deliver(f), OnParameterSets);
        _video = !options.TestVideo ? null : new SupervisedProcess(options.FfmpegPath, VideoArguments(options), options, logger,
            onStart: () =>
            {
                SetState(MediaSourceState.Starting);
                _ingest.Reset();
            },
            onData: data => _ingest.Write(data),
            onExit: error => SetState(MediaSourceState.Retrying, error));
        if (options.TestAudio)
        {
            _audio = new SupervisedProcess(options.FfmpegPath, AudioArguments(options), options, logger,
                onStart: () =>
                {
                    _ogg[0] = new OggOpusReader();
                    _audioBase = _audioLast;
                },
                onData: OnOggData,
                onExit: _ => { });
        }
        UpdateInfo(i => i with { VideoCodec = options.TestVideo ? MediaCodec.H264 : null, Width = options.TestVideo ? options.TestWidth : 0, Height = options.TestVideo ? options.TestHeight : 0, AudioCodec = options.TestAudio ? MediaCodec.Opus : null, AudioChannels = options.TestAudio ? 2 : 0 });
    }

    /// <summary>The ffmpeg arguments of the video process.</summary>
    internal static List<string> VideoArguments(MediaSourceOptions o)
    {
        var args = new List<string>
        {
            "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
            "-f", "lavfi", "-i", string.Create(CultureInfo.InvariantCulture, $"testsrc2=size={o.TestWidth}x{o.TestHeight}:rate={o.TestFrameRate}"),
            "-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p",
            "-g", Gop(o).ToString(CultureInfo.InvariantCulture),
            "-x264-params", string.Create(CultureInfo.InvariantCulture, $"aud=1:keyint={Gop(o)}:min-keyint={Gop(o)}:scenecut=0"),
        };
        if (o.TestBitrateKbps > 0)
        {
            string rate = string.Create(CultureInfo.InvariantCulture, $"{o.TestBitrateKbps}k");
            args.AddRange(["-b:v", rate, "-maxrate", rate, "-bufsize", rate]);
        }
        args.AddRange(["-bsf:v", "h264_mp4toannexb", "-f", "h264", "pipe:1"]);
        return args;
    }

    /// <summary>Frames per GOP: half a second (at least 1).</summary>
    internal static int Gop(MediaSourceOptions o) => Math.Max(1, o.TestFrameRate / 2);

    /// <summary>The ffmpeg arguments of the audio process.</summary>
    internal static List<string> AudioArguments(MediaSourceOptions o) =>
    [
        "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", string.Create(CultureInfo.InvariantCulture, $"sine=frequency={o.TestToneHz}:sample_rate=48000"),
        "-ac", "2", "-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-application", "lowdelay",
        "-page_duration", "20000", "-flush_packets", "1", "-f", "ogg", "pipe:1",
    ];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        SetState(MediaSourceState.Starting);
        _video?.Start();
        _audio?.Start();
        return Task.CompletedTask;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_video is not null)
            await _video.StopAsync().ConfigureAwait(false);
        if (_audio is not null)
            await _audio.StopAsync().ConfigureAwait(false);
        SetState(MediaSourceState.Stopped);
    }

    private TimeSpan NextVideoTimestamp()
    {
        long n = _frameIndex++;
        return TimeSpan.FromTicks(n * TimeSpan.TicksPerSecond / _options.TestFrameRate);
    }

    private void OnParameterSets(H264SpsInfo sps, byte[] spsNal, byte[] ppsNal) =>
        UpdateInfo(i => i with { Width = sps.Width, Height = sps.Height, Sps = spsNal, Pps = ppsNal, ProfileLevelId = sps.ProfileLevelId });

    private void OnOggData(ReadOnlySpan<byte> data)
    {
        var reader = _ogg[0];
        while (!data.IsEmpty)
        {
            int n = reader.Write(data);
            data = data[n..];
            while (reader.TryRead(out var packet, out long position))
            {
                long samples = _audioBase + position;
                _audioLast = samples + OpusPacket.GetSampleCount(packet);
                var frame = new EncodedFrame(MediaCodec.Opus, packet.ToArray(), TimeSpan.FromTicks(samples * TimeSpan.TicksPerSecond / 48000), true);
                Deliver(frame);
            }
            if (n == 0 && !data.IsEmpty)
                break;
        }
    }
}
