using System.Threading.Channels;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;

namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// W3C <c>RTCRtpReceiver</c>: the peer's RTP on this transceiver reassembled into <see cref="EncodedFrame"/>s
/// (H.264 access units through <see cref="H264Depacketizer"/>, one Opus/G.711 packet per frame), readable from
/// <see cref="Frames"/>. The queue is bounded (<see cref="FrameQueueCapacity"/>); when the application falls behind
/// the oldest frames are dropped and counted.
/// </summary>
public sealed class RTCRtpReceiver
{
    /// <summary>Frames buffered for the reader.</summary>
    public const int FrameQueueCapacity = 512;

    private readonly RTCPeerConnection _pc;
    private readonly Channel<EncodedFrame> _frames;
    private readonly byte[] _packet = new byte[2048];
    private H264Depacketizer? _h264;
    private uint? _firstTimestamp;
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

    /// <summary>Received frames, in arrival order; completes when the connection closes.</summary>
    public ChannelReader<EncodedFrame> Frames => _frames.Reader;

    /// <summary>Frames delivered to <see cref="Frames"/>.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Frames dropped because the reader fell behind.</summary>
    public long FramesDropped => Interlocked.Read(ref _framesDropped);

    /// <summary>Reads frames until the connection closes or <paramref name="cancellationToken"/> fires.</summary>
    public IAsyncEnumerable<EncodedFrame> ReadAllAsync(CancellationToken cancellationToken = default) => _frames.Reader.ReadAllAsync(cancellationToken);

    /// <summary>Asks the peer for a keyframe (PLI).</summary>
    public Task<bool> RequestKeyframeAsync(CancellationToken cancellationToken = default) => _pc.RequestKeyframeAsync(Transceiver, cancellationToken);

    /// <summary>On the loop: drains the core's RTP queue of this transceiver into frames.</summary>
    internal void Drain(PeerConnectionCore core)
    {
        var codec = Transceiver.Codec is { } c ? RtpCodecNegotiation.CodecOf(c) : null;
        int clock = Transceiver.Codec?.ClockRate ?? 90000;
        while (core.TryReadRtp(Transceiver.Index, _packet, out int length))
        {
            var packet = _packet.AsSpan(0, length);
            if (!RtpHeader.TryRead(packet, out var h) || codec is null) continue;
            var payload = h.Payload(packet);
            _firstTimestamp ??= h.Timestamp;
            if (codec == MediaCodec.H264)
            {
                _h264 ??= new H264Depacketizer();
                if (_h264.TryAdd(payload, h.SequenceNumber, h.Timestamp, h.Marker, out var au, out var info))
                    Write(new EncodedFrame(MediaCodec.H264, au.ToArray(), Ts(info.Timestamp, clock), info.IsKeyframe));
            }
            else if (payload.Length > 0)
            {
                Write(new EncodedFrame(codec.Value, payload.ToArray(), Ts(h.Timestamp, clock), true));
            }
        }
    }

    private TimeSpan Ts(uint ts, int clock) => TimeSpan.FromTicks((long)(uint)(ts - _firstTimestamp!.Value) * TimeSpan.TicksPerSecond / clock);

    private void Write(EncodedFrame f)
    {
        Interlocked.Increment(ref _framesReceived);
        _frames.Writer.TryWrite(f);
    }

    internal void Complete() => _frames.Writer.TryComplete();
}
