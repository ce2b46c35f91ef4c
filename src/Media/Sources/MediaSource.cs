using OspBridge.Media.Rtsp;

namespace OspBridge.Media.Sources;

/// <summary>Creates sources from their URI form.</summary>
public static class MediaSource
{
    /// <summary>
    /// Creates the source named by <paramref name="uri"/>: <c>test</c> (ffmpeg test pattern + tone),
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
                TestWidth = 1920, TestHeight = 1080, TestFrameRate = 30, TestBitrateKbps = 4000,
            });
        if (uri.StartsWith("exec:", StringComparison.Ordinal))
            return new ExecSource(uri["exec:".Length..], options);
        if (uri.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase))
            return new RtspSource(RtspUri.Parse(uri), options);
        throw new MediaException(MediaError.UnsupportedSource, $"unsupported source '{uri}' (use test, test:1080p, exec:<command> or rtsp://…)");
    }
}
