namespace OspBridge.Media.Hub;

/// <summary>Options of a <see cref="MediaHub"/>.</summary>
public sealed class MediaHubOptions
{
    /// <summary>Largest GOP cache (octets, frames since the last keyframe); beyond it the cache is dropped until the next keyframe. Default 8 MB.</summary>
    public int GopCacheMaxBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Frames a sink may have queued before it is resynchronized to the next keyframe. Default 240.</summary>
    public int SinkQueueMaxFrames { get; init; } = 240;

    /// <summary>Octets a sink may have queued before it is resynchronized to the next keyframe. Default 8 MB.</summary>
    public int SinkQueueMaxBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>How long the source keeps running after the last sink left. Default 10 s.</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Answer a sink's keyframe request (a viewer's PLI/FIR) by replaying the GOP cache to that sink when the source
    /// cannot force a keyframe (<see cref="Sources.IMediaSource.CanForceKeyframe"/>). Default true.
    /// </summary>
    public bool ReplayGopOnKeyframeRequest { get; init; } = true;

    /// <summary>Shortest time between two GOP replays to one sink (further requests wait for the source's next keyframe). Default 500 ms.</summary>
    public TimeSpan GopReplayMinInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Timestamp spacing of replayed frames (compressed so the viewer decodes up to the live picture at once). Default 1 ms.</summary>
    public TimeSpan GopReplayFrameSpacing { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Time for the grace period and the replay interval. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
