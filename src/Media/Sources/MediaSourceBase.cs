using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>State bookkeeping shared by the source kinds.</summary>
internal abstract class MediaSourceBase : IMediaSource
{
    private readonly Lock _gate = new();
    private MediaSourceInfo _info = new();
    private MediaSourceState _state;

    public MediaSourceInfo Info
    {
        get
        {
            lock (_gate)
                return _info;
        }
    }

    public MediaSourceState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    public Action<EncodedFrame>? FrameReceived { get; set; }

    public event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged;

    /// <summary>Frames delivered since creation.</summary>
    public long FramesDelivered { get; private set; }

    public abstract Task StartAsync(CancellationToken cancellationToken);

    public abstract Task StopAsync(CancellationToken cancellationToken);

    public virtual void RequestKeyframe()
    {
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected void UpdateInfo(Func<MediaSourceInfo, MediaSourceInfo> update)
    {
        lock (_gate)
            _info = update(_info);
    }

    protected void SetState(MediaSourceState state, Exception? error = null)
    {
        lock (_gate)
        {
            if (_state == state && error is null)
                return;
            _state = state;
        }
        StateChanged?.Invoke(this, new MediaSourceStateChangedEventArgs(state, error));
    }

    protected void Deliver(in EncodedFrame frame)
    {
        if (State != MediaSourceState.Running)
            SetState(MediaSourceState.Running);
        FramesDelivered++;
        FrameReceived?.Invoke(frame);
    }
}
