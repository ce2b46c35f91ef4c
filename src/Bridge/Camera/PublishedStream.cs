using OspBridge.Media;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Camera;

/// <summary>
/// A stream a WHIP client published to this device (docs/bridge.md "WHIP re-publish"), offered to WHEP viewers that ask
/// for it (<c>/whep/{id}?stream=published</c>, LAN signaling label <see cref="CameraService.PublishedLabel"/>). The
/// publisher's received frames (H.264 access units from the depacketizer, Opus packets) go unchanged into a
/// <see cref="MediaHub"/> whose sinks feed the viewers' senders, as the camera's hub does: no transcoding, the hub's GOP
/// cache starts each viewer at a keyframe, and a viewer's keyframe request (PLI/FIR) becomes a PLI to the publisher.
/// One per publisher: when the publisher leaves, <see cref="DisposeAsync"/> closes every viewer's sink and the viewers'
/// peer connections are closed by <see cref="CameraService"/>.
/// </summary>
internal sealed class PublishedStream : IAsyncDisposable
{
    private readonly Source _source;

    /// <summary>A stream published by <paramref name="publisherId"/>; <paramref name="video"/> is its video receiver (null: audio only).</summary>
    public PublishedStream(string publisherId, RTCRtpReceiver? video, bool audio, MediaHubOptions? hubOptions = null)
    {
        PublisherId = publisherId;
        _source = new Source(video, audio);
        Hub = new MediaHub(_source, hubOptions);
    }

    /// <summary>Who published it (the trusted peer that signaled the WHIP offer: the bridge, or a controller).</summary>
    public string PublisherId { get; }

    /// <summary>The fan-out to the viewers.</summary>
    public MediaHub Hub { get; }

    /// <summary>What the stream carries (from the publisher's accepted sections; the codec is corrected by the first frame).</summary>
    public MediaSourceInfo Info => _source.Info;

    /// <summary>Frames received from the publisher.</summary>
    public long FramesPublished => _source.DeliveredCount;

    /// <summary>Hands one received frame to the viewers (dropped while no viewer is watching: the hub has not started the source).</summary>
    public void Publish(in EncodedFrame frame) => _source.Deliver(frame);

    /// <summary>Pumps the publisher's video receiver into the hub until it completes or <paramref name="cancellationToken"/> ends.</summary>
    public async Task PumpVideoAsync(RTCRtpReceiver receiver, CancellationToken cancellationToken)
    {
        var frames = receiver.Frames;
        try
        {
            while (await frames.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (frames.TryRead(out var frame))
                    _source.Deliver(frame);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ends the stream: every viewer's sink is closed.</summary>
    public ValueTask DisposeAsync() => Hub.DisposeAsync();

    /// <summary>The hub's source: running while the hub has viewers; keyframe requests become PLI to the publisher.</summary>
    private sealed class Source(RTCRtpReceiver? video, bool audio) : IMediaSource
    {
        private readonly Lock _gate = new();
        private MediaSourceInfo _info = new()
        {
            VideoCodec = video is null ? null : MediaCodec.H264,
            AudioCodec = audio ? MediaCodec.Opus : null,
            AudioChannels = audio ? 2 : 0,
        };
        private readonly Lock _deliverGate = new();
        private MediaSourceState _state;
        private long _delivered;

        public long DeliveredCount => Interlocked.Read(ref _delivered);

        public MediaSourceInfo Info
        {
            get { lock (_gate) return _info; }
        }

        public MediaSourceState State
        {
            get { lock (_gate) return _state; }
        }

        public Action<EncodedFrame>? FrameReceived { get; set; }

        public event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            SetState(MediaSourceState.Running);
            video?.RequestKeyframe();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            SetState(MediaSourceState.Stopped);
            return Task.CompletedTask;
        }

        public void RequestKeyframe() => video?.RequestKeyframe();

        public void Deliver(in EncodedFrame frame)
        {
            Interlocked.Increment(ref _delivered);
            bool isVideo = frame.Codec is MediaCodec.H264 or MediaCodec.H265;
            lock (_gate)
            {
                if (_state != MediaSourceState.Running) return;
                // The negotiated codec, as the frames say (the info was a guess from the accepted sections).
                if (isVideo && _info.VideoCodec != frame.Codec) _info = _info with { VideoCodec = frame.Codec };
                else if (!isVideo && _info.AudioCodec != frame.Codec) _info = _info with { AudioCodec = frame.Codec };
            }
            // Video and audio arrive on two pumps; the hub takes one frame at a time.
            lock (_deliverGate)
                FrameReceived?.Invoke(frame);
        }

        private void SetState(MediaSourceState state)
        {
            lock (_gate)
            {
                if (_state == state) return;
                _state = state;
            }
            StateChanged?.Invoke(this, new MediaSourceStateChangedEventArgs(state, null));
        }

        public ValueTask DisposeAsync()
        {
            SetState(MediaSourceState.Stopped);
            return ValueTask.CompletedTask;
        }
    }
}
