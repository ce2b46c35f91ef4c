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
    public void Publish(in EncodedFrame frame) => _source.Push(frame);

    /// <summary>Pumps the publisher's video receiver into the hub until it completes or <paramref name="cancellationToken"/> ends.</summary>
    public async Task PumpVideoAsync(RTCRtpReceiver receiver, CancellationToken cancellationToken)
    {
        var frames = receiver.Frames;
        try
        {
            while (await frames.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (frames.TryRead(out var frame))
                    _source.Push(frame);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ends the stream: every viewer's sink is closed.</summary>
    public ValueTask DisposeAsync() => Hub.DisposeAsync();

    /// <summary>
    /// The hub's source, an ordinary <see cref="MediaSourceBase"/> whose frames are pushed by the publisher's receivers:
    /// running while the hub has viewers (frames meanwhile are dropped); keyframe requests become PLI to the publisher.
    /// </summary>
    private sealed class Source : MediaSourceBase
    {
        private readonly RTCRtpReceiver? _video;
        private readonly Lock _deliverGate = new();
        private long _delivered;

        public Source(RTCRtpReceiver? video, bool audio)
        {
            _video = video;
            UpdateInfo(i => i with
            {
                VideoCodec = video is null ? null : MediaCodec.H264,
                AudioCodec = audio ? MediaCodec.Opus : null,
                AudioChannels = audio ? 2 : 0,
            });
        }

        public long DeliveredCount => Interlocked.Read(ref _delivered);

        public override Task StartAsync(CancellationToken cancellationToken)
        {
            SetState(MediaSourceState.Running);
            _video?.RequestKeyframe();
            return Task.CompletedTask;
        }

        public override Task StopAsync(CancellationToken cancellationToken)
        {
            SetState(MediaSourceState.Stopped);
            return Task.CompletedTask;
        }

        public override void RequestKeyframe() => _video?.RequestKeyframe();

        public void Push(in EncodedFrame frame)
        {
            Interlocked.Increment(ref _delivered);
            if (State != MediaSourceState.Running)
                return;
            // The negotiated codec, as the frames say (the info was a guess from the accepted sections).
            bool isVideo = frame.Codec is MediaCodec.H264 or MediaCodec.H265;
            var info = Info;
            if (isVideo && info.VideoCodec != frame.Codec)
            {
                var codec = frame.Codec;
                UpdateInfo(i => i with { VideoCodec = codec });
            }
            else if (!isVideo && info.AudioCodec != frame.Codec)
            {
                var codec = frame.Codec;
                UpdateInfo(i => i with { AudioCodec = codec });
            }
            // Video and audio arrive on two pumps; the hub takes one frame at a time.
            lock (_deliverGate)
                DeliverIfRunning(frame);
        }
    }
}
