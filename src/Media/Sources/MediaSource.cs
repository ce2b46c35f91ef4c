using OspBridge.Media.Rtsp;

namespace OspBridge.Media.Sources;

/// <summary>Creates sources from their URI form.</summary>
public static class MediaSource
{
    /// <summary>
    /// Creates the source named by <paramref name="uri"/>: <c>test</c> (ffmpeg test pattern + tone), <c>test:1080p</c> (the
    /// same at 1920x1080, 30 fps, 4 Mbit/s), <c>test:audio</c> (the tone only), a <c>.ogg</c>/<c>.opus</c> file (Ogg
    /// Opus, paced in real time, played once),
    /// <c>exec:&lt;command line&gt;</c> (Annex B H.264 on the command's stdout), or
    /// <c>rtsp://[user:pass@]host[:port]/path</c>. Throws <see cref="MediaException"/> with
    /// <see cref="MediaError.UnsupportedSource"/> for anything else.
    /// </summary>
    public static IMediaSource Create(string uri, MediaSourceOptions? options = null)
    {
        options ??= new MediaSourceOptions();
        if (uri == "test")
            return new TestCameraSource(options);
        if (uri == "test:1080p")
            return new TestCameraSource(new MediaSourceOptions
            {
                LoggerFactory = options.LoggerFactory, TimeProvider = options.TimeProvider, FfmpegPath = options.FfmpegPath,
                InitialBackoff = options.InitialBackoff, MaxBackoff = options.MaxBackoff, TestAudio = options.TestAudio,
                TestToneHz = options.TestToneHz, TestWidth = 1920, TestHeight = 1080, TestFrameRate = 30, TestBitrateKbps = 4000,
            });
        if (uri == "test:audio")
            return new TestCameraSource(new MediaSourceOptions
            {
                LoggerFactory = options.LoggerFactory, TimeProvider = options.TimeProvider, FfmpegPath = options.FfmpegPath,
                InitialBackoff = options.InitialBackoff, MaxBackoff = options.MaxBackoff, TestAudio = true, TestVideo = false,
                TestToneHz = options.TestToneHz,
            });
        if (uri.EndsWith(".ogg", StringComparison.OrdinalIgnoreCase) || uri.EndsWith(".opus", StringComparison.OrdinalIgnoreCase))
            return new OggFileSource(uri.StartsWith("file:", StringComparison.Ordinal) ? uri["file:".Length..] : uri, options);
        if (uri.StartsWith("exec:", StringComparison.Ordinal))
            return new ExecSource(uri["exec:".Length..], options);
        if (uri.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase))
            return new RtspSource(RtspUri.Parse(uri), options);
        throw new MediaException(MediaError.UnsupportedSource, $"unsupported source '{uri}' (use test, test:1080p, test:audio, <file>.ogg, exec:<command> or rtsp://…)");
    }
}
