using System.Runtime.CompilerServices;
using System.Threading.Channels;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Hub;

/// <summary>
/// One viewer of a <see cref="MediaHub"/>: a bounded queue of frames. The frames' memory is immutable and may be kept.
/// When the queue overflows (the viewer is slower than the source) everything queued is dropped and the sink waits for
/// the next keyframe, so a slow viewer skips ahead instead of slowing the source or the other viewers.
/// </summary>
public sealed class MediaHubSink : IAsyncDisposable
{
    private readonly MediaHub _hub;
    private readonly Channel<EncodedFrame> _queue = Channel.CreateUnbounded<EncodedFrame>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly int _maxFrames;
    private readonly int _maxBytes;
    private readonly TimeSpan _replaySpacing;
    private TimeSpan _videoOffset;
    private TimeSpan? _lastVideoOut;
    private TimeSpan? _lastLiveVideoIn;
    private TimeSpan _liveVideoInterval;
    /// <summary>The slot a replay fits into before the first live frame interval is known (30 fps).</summary>
    private static readonly TimeSpan DefaultVideoInterval = TimeSpan.FromTicks(TimeSpan.TicksPerSecond / 30);
    private int _queuedFrames;
    private long _queuedBytes;
    private int _disposed;

    internal MediaHubSink(MediaHub hub, int maxFrames, int maxBytes, TimeSpan replaySpacing)
    {
        _hub = hub;
        _maxFrames = maxFrames;
        _maxBytes = maxBytes;
        _replaySpacing = replaySpacing > TimeSpan.Zero ? replaySpacing : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>Times this sink got the GOP cache replayed (for its keyframe requests; the start from the cache is not counted).</summary>
    public long GopReplays { get; private set; }

    /// <summary>When the last replay to this sink happened (<see cref="TimeProvider.GetTimestamp"/>), under the hub's lock.</summary>
    internal long? LastReplay { get; set; }

    /// <summary>Frames taken by the reader.</summary>
    public long FramesRead { get; private set; }

    /// <summary>Frames dropped (overflow, or while waiting for a keyframe).</summary>
    public long FramesDropped { get; private set; }

    /// <summary>Times the sink overflowed and was resynchronized to a keyframe.</summary>
    public long Resyncs { get; private set; }

    /// <summary>Frames waiting in the queue.</summary>
    public int QueuedFrames => Volatile.Read(ref _queuedFrames);

    /// <summary>True while frames are dropped until the next keyframe.</summary>
    internal bool WaitingForKeyframe { get; set; }

    /// <summary>Takes a queued frame without waiting.</summary>
    public bool TryRead(out EncodedFrame frame)
    {
        if (!_queue.Reader.TryRead(out frame))
            return false;
        Interlocked.Decrement(ref _queuedFrames);
        Interlocked.Add(ref _queuedBytes, -frame.Data.Length);
        FramesRead++;
        return true;
    }

    /// <summary>Waits until a frame is queued; false once the sink is closed.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _queue.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>All frames until the sink is closed or <paramref name="cancellationToken"/> fires.</summary>
    public async IAsyncEnumerable<EncodedFrame> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (TryRead(out var frame))
                yield return frame;
        }
    }

    /// <summary>
    /// The viewer lost its decoder state (a PLI/FIR): asks the source for a keyframe through the hub (sources that cannot
    /// be asked — <c>exec:</c>, RTSP, the test camera — ignore it, and the viewer gets the next keyframe of the source's
    /// GOP; the test camera's GOP is 0.5 s).
    /// </summary>
    public void RequestKeyframe() => _hub.RequestKeyframe(this);

    /// <summary>Leaves the hub (the source stops after the grace period when this was the last sink).</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            _hub.Remove(this);
        }
        return ValueTask.CompletedTask;
    }

    private static bool IsVideo(in EncodedFrame f) => f.Codec is MediaCodec.H264 or MediaCodec.H265;

    /// <summary>
    /// A new sink starts from the GOP cache (under the hub's lock): its video frames only, timestamps compressed into
    /// the last spacing-wide slots before the newest cached frame (never before the keyframe's own timestamp).
    /// </summary>
    internal void StartFromCache(List<EncodedFrame> gop)
    {
        int n = 0, first = -1, lastIndex = -1;
        for (int i = 0; i < gop.Count; i++)
        {
            if (!IsVideo(gop[i])) continue;
            if (first < 0) first = i;
            lastIndex = i;
            n++;
        }
        if (n == 0)
            return;
        TimeSpan k = gop[first].Timestamp, l = gop[lastIndex].Timestamp;
        TimeSpan step = n > 1 && l > k ? TimeSpan.FromTicks(Math.Min(_replaySpacing.Ticks, (l - k).Ticks / (n - 1))) : TimeSpan.Zero;
        int j = 0;
        foreach (var f in gop)
        {
            if (!IsVideo(f)) continue;
            var at = n > 1 && l > k ? l - (step * (n - 1 - j)) : f.Timestamp;
            j++;
            Enqueue(f with { Timestamp = at }, f.IsKeyframe, sourceHasVideo: true, stamped: true);
        }
        _videoOffset = TimeSpan.Zero;
    }

    /// <summary>
    /// Replays the cached GOP's video frames after this sink's last video timestamp (under the hub's lock), squeezed into
    /// the slot before the next live frame (one live frame interval): the next live frame then needs no extra offset, so
    /// repeated replays cannot push video ahead of audio.
    /// </summary>
    internal void Replay(List<EncodedFrame> gop)
    {
        if (_lastVideoOut is null)
        {
            StartFromCache(gop);
            GopReplays++;
            return;
        }
        int n = 0;
        foreach (var f in gop)
            if (IsVideo(f)) n++;
        var room = _liveVideoInterval > TimeSpan.Zero ? _liveVideoInterval : DefaultVideoInterval;
        var step = TimeSpan.FromTicks(Math.Max(1, Math.Min(_replaySpacing.Ticks, room.Ticks / (n + 1))));
        var at = _lastVideoOut.Value;
        foreach (var f in gop)
        {
            if (!IsVideo(f)) continue;
            at += step;
            Enqueue(f with { Timestamp = at }, f.IsKeyframe, sourceHasVideo: true, stamped: true);
        }
        GopReplays++;
    }

    /// <summary>Called by the hub under its lock.</summary>
    internal void Offer(in EncodedFrame frame, bool isVideoKeyframe, bool sourceHasVideo) => Enqueue(frame, isVideoKeyframe, sourceHasVideo, stamped: false);

    /// <summary>
    /// Queues a frame (under the hub's lock). Live video frames (<paramref name="stamped"/> false) get the sink's offset
    /// and are moved after the last video timestamp when they would not be later than it.
    /// </summary>
    private void Enqueue(EncodedFrame frame, bool isVideoKeyframe, bool sourceHasVideo, bool stamped)
    {
        if (WaitingForKeyframe)
        {
            if (!(isVideoKeyframe || !sourceHasVideo))
            {
                FramesDropped++;
                return;
            }
            WaitingForKeyframe = false;
        }
        if (Volatile.Read(ref _queuedFrames) >= _maxFrames || Interlocked.Read(ref _queuedBytes) + frame.Data.Length > _maxBytes)
        {
            Resyncs++;
            while (_queue.Reader.TryRead(out var old))
            {
                Interlocked.Decrement(ref _queuedFrames);
                Interlocked.Add(ref _queuedBytes, -old.Data.Length);
                FramesDropped++;
            }
            if (sourceHasVideo && !isVideoKeyframe)
            {
                WaitingForKeyframe = true;
                FramesDropped++;
                return;
            }
        }
        if (IsVideo(frame))
        {
            if (!stamped)
            {
                if (_lastLiveVideoIn is { } prev && frame.Timestamp > prev && frame.Timestamp - prev < TimeSpan.FromSeconds(1))
                    _liveVideoInterval = frame.Timestamp - prev;
                _lastLiveVideoIn = frame.Timestamp;
                var at = frame.Timestamp + _videoOffset;
                if (_lastVideoOut is { } last && at <= last)
                {
                    at = last + _replaySpacing;
                    _videoOffset = at - frame.Timestamp;
                }
                if (at != frame.Timestamp)
                    frame = frame with { Timestamp = at };
            }
            _lastVideoOut = frame.Timestamp;
        }
        Interlocked.Increment(ref _queuedFrames);
        Interlocked.Add(ref _queuedBytes, frame.Data.Length);
        _queue.Writer.TryWrite(frame);
    }

    internal void Close() => _queue.Writer.TryComplete();
}
