using OspBridge.Media.Sinks;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// State bookkeeping shared by the source kinds (the test camera, <c>exec:</c>, RTSP, Ogg files — and, outside this
/// library, a WebRTC publisher re-published to viewers): <see cref="Info"/> and <see cref="State"/> under one lock,
/// <see cref="StateChanged"/> raised outside it, <see cref="Deliver"/> to the one <see cref="FrameReceived"/> consumer
/// (a <see cref="Hub.MediaHub"/>). A derived source calls <see cref="Deliver"/> from one thread at a time.
/// </summary>
public abstract class MediaSourceBase : IMediaSource
{
    private readonly Lock _gate = new();
    private MediaSourceInfo _info = new();
    private MediaSourceState _state;

    /// <inheritdoc/>
    public MediaSourceInfo Info
    {
        get
        {
            lock (_gate)
                return _info;
        }
    }

    /// <inheritdoc/>
    public MediaSourceState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    /// <inheritdoc/>
    public Action<EncodedFrame>? FrameReceived { get; set; }

    /// <inheritdoc/>
    public event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged;

    /// <summary>Frames delivered since creation.</summary>
    public long FramesDelivered { get; private set; }

    /// <inheritdoc/>
    public abstract Task StartAsync(CancellationToken cancellationToken);

    /// <inheritdoc/>
    public abstract Task StopAsync(CancellationToken cancellationToken);

    /// <inheritdoc/>
    public virtual IAudioSink? TalkBackSink => null;

    /// <inheritdoc/>
    public virtual void RequestKeyframe()
    {
    }

    /// <summary>Stops the source (<see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// <see cref="StartAsync"/> of a source that runs on one <see cref="BackgroundLoop"/>: Starting, then
    /// <paramref name="body"/> on the loop; nothing when the loop already runs.
    /// </summary>
    private protected Task StartOn(BackgroundLoop loop, Func<CancellationToken, Task> body)
    {
        if (!loop.IsRunning)
        {
            SetState(MediaSourceState.Starting);
            loop.Start(body);
        }
        return Task.CompletedTask;
    }

    /// <summary><see cref="StopAsync"/> of such a source: stops the loop, then Stopped (nothing when it was not running).</summary>
    private protected async Task StopOnAsync(BackgroundLoop loop)
    {
        if (await loop.StopAsync().ConfigureAwait(false))
            SetState(MediaSourceState.Stopped);
    }

    /// <summary>Replaces <see cref="Info"/> with <paramref name="update"/>'s result, atomically.</summary>
    protected void UpdateInfo(Func<MediaSourceInfo, MediaSourceInfo> update)
    {
        lock (_gate)
            _info = update(_info);
    }

    /// <summary>Moves to <paramref name="state"/> and raises <see cref="StateChanged"/> (also for a repeated state with an error).</summary>
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

    /// <summary>Hands <paramref name="frame"/> to <see cref="FrameReceived"/>; the first frame makes the state <see cref="MediaSourceState.Running"/>.</summary>
    protected void Deliver(in EncodedFrame frame)
    {
        if (State != MediaSourceState.Running)
            SetState(MediaSourceState.Running);
        FramesDelivered++;
        FrameReceived?.Invoke(frame);
    }

    /// <summary>
    /// Hands <paramref name="frame"/> on only while the source is <see cref="MediaSourceState.Running"/> (a pushed source
    /// whose consumer has not started it, or has stopped it, drops frames instead of coming back to life); true if delivered.
    /// </summary>
    protected bool DeliverIfRunning(in EncodedFrame frame)
    {
        if (State != MediaSourceState.Running)
            return false;
        FramesDelivered++;
        FrameReceived?.Invoke(frame);
        return true;
    }
}
