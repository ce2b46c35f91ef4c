using System.Threading.Channels;
using OspBridge.WebRtc.Media;

namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// W3C <c>RTCRtpReceiver</c>: the peer's RTP on this transceiver reassembled by the transceiver's
/// <see cref="RtpReceiveStream"/> (reordering, generic NACK for lost video packets, PLI until a keyframe, RR) into
/// <see cref="EncodedFrame"/>s — H.264/H.265 access units; audio packets in playout order through an
/// <see cref="AudioJitterBuffer"/> — readable from <see cref="Frames"/>. Timestamps start at zero with the first frame.
/// The queue is bounded (<see cref="FrameQueueCapacity"/>); when the application falls behind the oldest frames are
/// dropped and counted.
/// </summary>
public sealed class RTCRtpReceiver
{
    /// <summary>Frames buffered for the reader.</summary>
    public const int FrameQueueCapacity = 512;

    private readonly RTCPeerConnection _pc;
    private readonly Channel<EncodedFrame> _frames;
    private long _framesReceived;
    private long _framesDropped;

    internal RTCRtpReceiver(RTCPeerConnection pc, RTCRtpTransceiver transceiver)
    {
        _pc = pc;
        Transceiver = transceiver;
        _frames = Channel.CreateBounded<EncodedFrame>(new BoundedChannelOptions(FrameQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleWriter = true,
        }, _ => Interlocked.Increment(ref _framesDropped));
    }

    /// <summary>The owning transceiver.</summary>
    public RTCRtpTransceiver Transceiver { get; }

    /// <summary>Received frames, in order; completes when the connection closes.</summary>
    public ChannelReader<EncodedFrame> Frames => _frames.Reader;

    /// <summary>Frames delivered to <see cref="Frames"/>.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Frames dropped because the reader fell behind.</summary>
    public long FramesDropped => Interlocked.Read(ref _framesDropped);

    /// <summary>Reads frames until the connection closes or <paramref name="cancellationToken"/> fires.</summary>
    public IAsyncEnumerable<EncodedFrame> ReadAllAsync(CancellationToken cancellationToken = default) => _frames.Reader.ReadAllAsync(cancellationToken);

    /// <summary>
    /// Asks the peer for a keyframe: a PLI (rate-limited, repeated until a keyframe arrives). Completes with false when
    /// nothing was received yet (the peer's SSRC is unknown) or the track is audio.
    /// </summary>
    public Task<bool> RequestKeyframeAsync(CancellationToken cancellationToken = default) => _pc.RequestKeyframeAsync(Transceiver, cancellationToken);

    /// <summary>Fire-and-forget form of <see cref="RequestKeyframeAsync"/> (thread-safe, does not block); false when the connection is closed.</summary>
    public bool RequestKeyframe() => _pc.PostRequestKeyframe(Transceiver);

    /// <summary>On the loop: moves the core's received frames of this transceiver into <see cref="Frames"/> (one copy each).</summary>
    internal void Drain(PeerConnectionCore core)
    {
        while (core.TryReadFrame(Transceiver.Index, out var frame)) Write(frame with { Data = frame.Data.ToArray() });
    }

    private void Write(EncodedFrame f)
    {
        Interlocked.Increment(ref _framesReceived);
        _frames.Writer.TryWrite(f);
    }

    internal void Complete() => _frames.Writer.TryComplete();
}
