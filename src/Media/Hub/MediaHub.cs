using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Hub;

/// <summary>
/// Fan-out of one source to many sinks without transcoding. Each source frame is copied once into an immutable buffer
/// shared by every sink. A GOP cache (frames since the last video keyframe, bounded in octets) lets a new sink start at
/// a keyframe at once; with no cache the sink waits for the next keyframe and the source is asked for one. Each sink
/// has its own bounded queue (see <see cref="MediaHubSink"/>). The source is started with the first sink and stopped
/// a grace period after the last one left. Per-viewer SSRC/sequence numbers and the RTP timestamp base belong to each
/// viewer's RTP sender, not here.
/// </summary>
/// <remarks>
/// <para>GOP replay (docs/media.md "GOP cache and keyframe replay"). A new sink gets the cached GOP's <em>video</em>
/// frames (keyframe first; cached audio is not replayed, audio starts live) with their timestamps compressed into
/// the last <see cref="MediaHubOptions.GopReplayFrameSpacing"/>-spaced slots before the newest cached frame, so the
/// viewer decodes up to the live picture at once instead of playing the old GOP out at frame rate (a lag of up to one
/// GOP). A sink's keyframe request (a viewer's PLI/FIR) is answered the same way from the cache when the source cannot
/// force a keyframe (<see cref="IMediaSource.CanForceKeyframe"/> false — ffmpeg, <c>exec:</c>, RTSP, the test camera):
/// keyframe plus every cached frame after it (a keyframe alone would leave the following live P-frames without their
/// references), timestamped <see cref="MediaHubOptions.GopReplayFrameSpacing"/> apart after the sink's last video
/// timestamp. Each sink keeps its video timestamps strictly increasing: a live frame that would not be later than the
/// last one given to that sink is moved just after it and the sink's offset grows by as much (it never shrinks).</para>
/// </remarks>
public sealed class MediaHub : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly IMediaSource _source;
    private readonly MediaHubOptions _options;
    private readonly List<EncodedFrame> _gop = [];
    private MediaHubSink[] _sinks = [];
    private long _gopBytes;
    private bool _gopValid;
    private bool _sourceRunning;
    private ITimer? _stopTimer;
    private Task _sourceTransition = Task.CompletedTask;
    private bool _disposed;
    private long _keyframeRequests;
    private long _gopReplays;

    /// <summary>Creates a hub over <paramref name="source"/> (the hub becomes the source's frame consumer).</summary>
    public MediaHub(IMediaSource source, MediaHubOptions? options = null)
    {
        _source = source;
        _options = options ?? new MediaHubOptions();
        _source.FrameReceived = OnFrame;
    }

    /// <summary>The source.</summary>
    public IMediaSource Source => _source;

    /// <summary>Frames received from the source.</summary>
    public long FramesIn { get; private set; }

    /// <summary>Video keyframes received from the source.</summary>
    public long KeyframesIn { get; private set; }

    /// <summary>Octets received from the source.</summary>
    public long BytesIn { get; private set; }

    /// <summary>Times the source was started by the hub.</summary>
    public int SourceStarts { get; private set; }

    /// <summary>Keyframe requests from sinks (PLI/FIR of viewers).</summary>
    public long KeyframeRequests => Interlocked.Read(ref _keyframeRequests);

    /// <summary>Keyframe requests answered by replaying the GOP cache to the requesting sink.</summary>
    public long GopReplays => Interlocked.Read(ref _gopReplays);

    /// <summary>Frames in the GOP cache.</summary>
    public int GopCacheFrames
    {
        get
        {
            lock (_gate)
                return _gop.Count;
        }
    }

    /// <summary>Sinks attached now.</summary>
    public int SinkCount => Volatile.Read(ref _sinks).Length;

    /// <summary>True while the hub keeps the source running.</summary>
    public bool IsSourceRunning
    {
        get
        {
            lock (_gate)
                return _sourceRunning;
        }
    }

    /// <summary>
    /// Adds a sink. It receives the GOP cache first (starting at a keyframe), then live frames. Starts the source if
    /// it is not running.
    /// </summary>
    public async Task<MediaHubSink> AddSinkAsync(CancellationToken cancellationToken = default)
    {
        var sink = new MediaHubSink(this, _options.SinkQueueMaxFrames, _options.SinkQueueMaxBytes, _options.GopReplayFrameSpacing);
        bool start = false;
        bool requestKeyframe = false;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stopTimer?.Dispose();
            _stopTimer = null;
            bool hasVideo = _source.Info.VideoCodec is not null;
            if (_gopValid && hasVideo)
            {
                sink.StartFromCache(_gop);
            }
            else if (hasVideo)
            {
                sink.WaitingForKeyframe = true;
                requestKeyframe = true;
            }
            _sinks = [.. _sinks, sink];
            if (!_sourceRunning)
            {
                _sourceRunning = true;
                start = true;
                SourceStarts++;
            }
        }
        if (start)
        {
            Task transition;
            lock (_gate)
                transition = _sourceTransition = ChainAsync(_sourceTransition, () => _source.StartAsync(CancellationToken.None));
            await transition.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (requestKeyframe)
        {
            _source.RequestKeyframe();
        }
        return sink;
    }

    /// <summary>Closes every sink and stops the source.</summary>
    public async ValueTask DisposeAsync()
    {
        MediaHubSink[] sinks;
        Task transition;
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            _stopTimer?.Dispose();
            sinks = _sinks;
            _sinks = [];
            _sourceRunning = false;
            transition = _sourceTransition = ChainAsync(_sourceTransition, () => _source.StopAsync(CancellationToken.None));
        }
        foreach (var s in sinks)
            s.Close();
        await transition.ConfigureAwait(false);
        _source.FrameReceived = null;
    }

    internal void RequestKeyframe(MediaHubSink sink)
    {
        Interlocked.Increment(ref _keyframeRequests);
        if (_options.ReplayGopOnKeyframeRequest && !_source.CanForceKeyframe)
        {
            lock (_gate)
            {
                long now = _options.TimeProvider.GetTimestamp();
                if (_gopValid && _gop.Count > 0 && !_disposed && Array.IndexOf(_sinks, sink) >= 0
                    && (sink.LastReplay is not { } last || _options.TimeProvider.GetElapsedTime(last, now) >= _options.GopReplayMinInterval))
                {
                    sink.LastReplay = now;
                    sink.Replay(_gop);
                    Interlocked.Increment(ref _gopReplays);
                }
            }
        }
        _source.RequestKeyframe();
    }

    internal void Remove(MediaHubSink sink)
    {
        lock (_gate)
        {
            int i = Array.IndexOf(_sinks, sink);
            if (i < 0)
                return;
            var list = _sinks.ToList();
            list.RemoveAt(i);
            _sinks = [.. list];
            if (_sinks.Length == 0 && _sourceRunning && !_disposed)
                _stopTimer = _options.TimeProvider.CreateTimer(_ => StopIfIdle(), null, _options.StopGracePeriod, Timeout.InfiniteTimeSpan);
        }
    }

    private void StopIfIdle()
    {
        lock (_gate)
        {
            if (_sinks.Length > 0 || !_sourceRunning || _disposed)
                return;
            _sourceRunning = false;
            _gop.Clear();
            _gopBytes = 0;
            _gopValid = false;
            _sourceTransition = ChainAsync(_sourceTransition, () => _source.StopAsync(CancellationToken.None));
        }
    }

    private static async Task ChainAsync(Task previous, Func<Task> next)
    {
        try
        {
            await previous.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MediaException or OperationCanceledException or IOException)
        {
            // The previous transition's failure was reported by the source's StateChanged; go on.
        }
        await next().ConfigureAwait(false);
    }

    private static bool IsVideoKeyframe(in EncodedFrame f) => f.IsKeyframe && f.Codec is MediaCodec.H264 or MediaCodec.H265;

    private void OnFrame(EncodedFrame frame)
    {
        // One copy per source frame, shared read-only by the cache and every sink.
        var shared = frame with { Data = frame.Data.ToArray() };
        bool keyframe = IsVideoKeyframe(shared);
        lock (_gate)
        {
            if (!_sourceRunning)
                return;
            FramesIn++;
            BytesIn += shared.Data.Length;
            bool hasVideo = _source.Info.VideoCodec is not null;
            if (keyframe)
            {
                KeyframesIn++;
                _gop.Clear();
                _gopBytes = 0;
                _gopValid = true;
            }
            if (_gopValid && hasVideo)
            {
                if (_gopBytes + shared.Data.Length > _options.GopCacheMaxBytes)
                {
                    _gop.Clear();
                    _gopBytes = 0;
                    _gopValid = false;
                }
                else
                {
                    _gop.Add(shared);
                    _gopBytes += shared.Data.Length;
                }
            }
            foreach (var sink in _sinks)
                sink.Offer(shared, keyframe, hasVideo);
        }
    }
}
