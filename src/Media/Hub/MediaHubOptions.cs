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

    /// <summary>Time for the grace period. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
