using OspBridge.Media.Sinks;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// A camera-like source of encoded frames (test camera, <c>exec:</c> child process, RTSP camera). One consumer — usually
/// a <see cref="Hub.MediaHub"/> — sets <see cref="FrameReceived"/> before <see cref="StartAsync"/>.
/// </summary>
/// <remarks>
/// Frames are delivered on the source's own reader tasks (video and audio may come from different tasks, but frames of
/// one codec never concurrently). The frame's memory is valid only during the call: copy to keep. The handler must not
/// block for long; it runs on the ingest path.
/// </remarks>
public interface IMediaSource : IAsyncDisposable
{
    /// <summary>What the source carries; filled in as it becomes known (e.g. resolution from the first SPS).</summary>
    MediaSourceInfo Info { get; }

    /// <summary>The current state.</summary>
    MediaSourceState State { get; }

    /// <summary>Receives each frame (see remarks).</summary>
    Action<EncodedFrame>? FrameReceived { get; set; }

    /// <summary>Raised on every state change, with the error that caused it when there is one.</summary>
    event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged;

    /// <summary>Starts producing frames (returns once the source was launched; it reconnects/restarts by itself).</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops producing frames (a later <see cref="StartAsync"/> starts again).</summary>
    Task StopAsync(CancellationToken cancellationToken);

    /// <summary>Asks for a keyframe soon (a new viewer, a PLI/FIR). Sources that cannot force one ignore it.</summary>
    void RequestKeyframe();

    /// <summary>
    /// True when <see cref="RequestKeyframe"/> really makes the source produce a keyframe soon (a WebRTC publisher that
    /// forwards PLI, an encoder under our control). False (the default) for ffmpeg/<c>exec:</c>/RTSP/the test camera:
    /// the hub then answers a viewer's keyframe request by replaying its GOP cache (see <see cref="Hub.MediaHub"/>).
    /// </summary>
    bool CanForceKeyframe => false;

    /// <summary>
    /// Where talk-back for this camera goes when the camera itself takes audio — an RTSP camera's ONVIF back channel —
    /// or null (the default) when it cannot. Its <see cref="IAudioSink.TryOpenAsync"/> returns null when the camera
    /// turned out to offer none (or another talker holds it); the agent then uses its <c>--talk-sink</c>.
    /// </summary>
    IAudioSink? TalkBackSink => null;
}

/// <summary>The life cycle of a source.</summary>
public enum MediaSourceState
{
    /// <summary>Not started, or stopped.</summary>
    Stopped,

    /// <summary>Launching the process / connecting.</summary>
    Starting,

    /// <summary>Frames are flowing.</summary>
    Running,

    /// <summary>Lost the process or connection; waiting for the back-off before trying again.</summary>
    Retrying,
}

/// <summary>A state change of a source.</summary>
public sealed class MediaSourceStateChangedEventArgs(MediaSourceState state, Exception? error) : EventArgs
{
    /// <summary>The new state.</summary>
    public MediaSourceState State { get; } = state;

    /// <summary>Why, when it is a failure.</summary>
    public Exception? Error { get; } = error;
}

/// <summary>What a source carries.</summary>
public sealed record MediaSourceInfo
{
    /// <summary>The video codec, or null for audio-only sources.</summary>
    public MediaCodec? VideoCodec { get; init; }

    /// <summary>Luma width in pixels, 0 until known.</summary>
    public int Width { get; init; }

    /// <summary>Luma height in pixels, 0 until known.</summary>
    public int Height { get; init; }

    /// <summary>The last H.264 SPS NAL unit (no start code), when known.</summary>
    public ReadOnlyMemory<byte> Sps { get; init; }

    /// <summary>The last H.264 PPS NAL unit (no start code), when known.</summary>
    public ReadOnlyMemory<byte> Pps { get; init; }

    /// <summary>The RFC 6184 profile-level-id (e.g. "42c01e"), when known.</summary>
    public string? ProfileLevelId { get; init; }

    /// <summary>The audio codec, or null without audio.</summary>
    public MediaCodec? AudioCodec { get; init; }

    /// <summary>Audio channels (1 or 2), 0 when unknown.</summary>
    public int AudioChannels { get; init; }
}
