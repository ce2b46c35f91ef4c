using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Hub;

/// <summary>
/// Fan-out of one source to many sinks without transcoding. Each source frame is copied once into an immutable buffer
/// shared by every sink. A GOP cache (frames since the last video keyframe, bounded in octets) lets a new sink start at
/// a keyframe at once; with no cache the sink waits for the next keyframe and the source is asked for one. Each sink
/// has its own bounded queue (see <see cref="MediaHubSink"/>). The source is started with the first sink and stopped
/// a grace period after the last one left. Per-viewer SSRC/sequence/timestamp rewriting belongs to each viewer's RTP
/// sender, not here.
/// </summary>
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
        var sink = new MediaHubSink(this, _options.SinkQueueMaxFrames, _options.SinkQueueMaxBytes);
        bool start = false;
        bool requestKeyframe = false;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stopTimer?.Dispose();
            _stopTimer = null;
            bool hasVideo = _source.Info.VideoCodec is not null;
            if (_gopValid)
            {
                foreach (var f in _gop)
                    sink.Offer(f, IsVideoKeyframe(f), hasVideo);
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

    internal void RequestKeyframe()
    {
        Interlocked.Increment(ref _keyframeRequests);
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
