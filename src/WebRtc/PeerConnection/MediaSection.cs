using System.Security.Cryptography;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc;

/// <summary>
/// One audio/video m-section's state inside <see cref="PeerConnectionCore"/>: what was negotiated, and the RTP session
/// that carries it — one sans-IO <see cref="RtpSendStream"/> (packetizer, retransmission ring, SR, PLI/FIR/NACK/REMB
/// handling) and one <see cref="RtpReceiveStream"/> (RFC 3550 A.1/A.3/A.8, reorder ring, NACK/PLI generation, RR),
/// plus an <see cref="AudioJitterBuffer"/> for received audio and a bounded queue of received frames the driver
/// drains. Streams are created when media first flows with the negotiated codec and recreated when it changes.
/// </summary>
internal sealed class MediaSection(int index, MediaKind kind, RTCRtpTransceiverDirection direction)
{
    /// <summary>Received frames queued per transceiver for the driver (more: the oldest unread is dropped, video resyncs at a keyframe).</summary>
    public const int FrameQueueCapacity = 32;

    /// <summary>Playout delay of the audio jitter buffer after the first frame's arrival.</summary>
    public static readonly TimeSpan AudioJitterDelay = TimeSpan.FromMilliseconds(60);

    /// <summary>How long the audio receiver waits for a missing packet before the jitter buffer conceals it.</summary>
    public static readonly TimeSpan AudioReorderWait = TimeSpan.FromMilliseconds(20);

    public int Index { get; } = index;
    public MediaKind Kind { get; } = kind;
    public RTCRtpTransceiverDirection Direction { get; set; } = direction;
    public RTCRtpTransceiverDirection CurrentDirection { get; set; } = RTCRtpTransceiverDirection.Inactive;
    public RTCRtpTransceiverDirection RemoteDirection { get; set; } = RTCRtpTransceiverDirection.Inactive;
    public string? Mid { get; set; }
    public bool Added { get; set; }
    public int RemoteLine { get; set; } = -1;
    public bool Rejected { get; set; }
    /// <summary>The peer's offer for this section cannot be accepted whatever the codecs (port 0, or outside the BUNDLE group).</summary>
    public bool OfferUnusable { get; set; }
    public bool TrackAnnounced { get; set; }
    public IReadOnlyList<RtpCodecDescription> Offered { get; set; } = [];
    /// <summary>W3C setCodecPreferences: codecs this section may negotiate, most wanted first; null = the default.</summary>
    public IReadOnlyList<MediaCodec>? CodecPreferences { get; set; }
    public RtpCodecDescription? Codec { get; set; }
    /// <summary>The negotiated RTX format (RFC 4588) for <see cref="Codec"/> (video only), or null.</summary>
    public RtpCodecDescription? Rtx { get; set; }
    public uint LocalRtxSsrc { get; init; }
    /// <summary>The peer's RTX SSRC from <c>a=ssrc-group:FID</c>, 0 when not signalled (any SSRC with the RTX PT).</summary>
    public uint RemoteRtxSsrc { get; set; }
    public int MidExtensionId { get; set; }
    public bool RemoteReducedSize { get; set; }
    public uint LocalSsrc { get; init; }
    public string TrackId { get; } = Guid.NewGuid().ToString();
    public List<uint> RemoteSsrcs { get; } = [];
    public bool ReceiveNotified { get; set; }

    // ------------------------------------------------------------------ the RTP session

    public RtpSendStream? Sender { get; private set; }
    public RtpReceiveStream? Receiver { get; private set; }
    public AudioJitterBuffer? Jitter { get; private set; }
    private RtpCodecDescription? _senderCodec, _receiverCodec, _senderRtx, _receiverRtx;
    private RtpSendStatistics _retiredSend;
    private RtpReceiveStatistics _retiredReceive;

    // counters kept here (W3C getStats()-shaped, across stream re-creation)
    public long PacketsAccepted { get; set; }
    public long OctetsAccepted { get; set; }
    public long FramesQueued { get; private set; }
    public long FrameQueueDrops { get; private set; }
    public long FramesConcealed { get; private set; }

    /// <summary>The send stream for the negotiated codec (created, or re-created after the codec changed).</summary>
    public RtpSendStream EnsureSender(RtpCodecDescription codec, MediaCodec mediaCodec, string cname, RandomNumberGenerator random)
    {
        if (Sender is not null && ReferenceEquals(_senderCodec, codec) && ReferenceEquals(_senderRtx, Rtx)) return Sender;
        if (Sender is not null) _retiredSend = Add(_retiredSend, Sender.Statistics);
        bool midOk = MidExtensionId is > 0 and <= 14 && Mid is { Length: > 0 and <= 16 } m && System.Text.Encoding.UTF8.GetByteCount(m) <= 16;
        Sender = new RtpSendStream(new RtpSendStreamOptions
        {
            Random = random,
            Codec = mediaCodec,
            PayloadType = (byte)codec.PayloadType,
            Ssrc = LocalSsrc,
            RtxPayloadType = Rtx is { } rtx ? (byte)rtx.PayloadType : null,
            RtxSsrc = LocalRtxSsrc,
            MaxPacketSize = PeerConnectionCore.MaxRtpPacketSize,
            MidExtensionId = midOk ? (byte)MidExtensionId : (byte)0,
            Mid = midOk ? Mid : null,
            RetransmissionBufferPackets = Kind == MediaKind.Video ? PeerConnectionCore.RetransmitHistory : 64,
            // NTP field on the core's monotonic clock (RFC 3550 §6.4.1 allows any consistent clock; it only serves
            // LSR/DLSR and lip sync between our own streams): now = 0 is the NTP epoch.
            WallClockOrigin = new DateTimeOffset(1900, 1, 1, 0, 0, 0, TimeSpan.Zero),
            CName = cname,
        });
        _senderCodec = codec;
        _senderRtx = Rtx;
        return Sender;
    }

    /// <summary>
    /// The receive stream for the negotiated codec (created, or re-created after the codec changed); with
    /// <c>remb</c> it sends REMB for video when the peer negotiated <c>goog-remb</c> for the codec.
    /// </summary>
    public RtpReceiveStream EnsureReceiver(RtpCodecDescription codec, MediaCodec mediaCodec, string cname, RandomNumberGenerator random, bool remb)
    {
        if (Receiver is not null && ReferenceEquals(_receiverCodec, codec) && ReferenceEquals(_receiverRtx, Rtx)) return Receiver;
        if (Receiver is not null) _retiredReceive = Add(_retiredReceive, Receiver.Statistics);
        bool video = Kind == MediaKind.Video;
        Receiver = new RtpReceiveStream(new RtpReceiveStreamOptions
        {
            Random = random,
            Codec = mediaCodec,
            PayloadType = (byte)codec.PayloadType,
            LocalSsrc = LocalSsrc,
            RtxPayloadType = Rtx is { } rtx ? (byte)rtx.PayloadType : null,
            RtxSsrc = RemoteRtxSsrc,
            ReorderBufferPackets = video ? 512 : 64,
            Nack = codec.HasFeedback("nack"),
            WaitForKeyframe = video,
            // REMB lets a publishing browser ramp its send rate (without TWCC its estimator is loss-based only:
            // +8 %/s from 300 kbit/s); the estimate invites up to RembMaxBitrate and follows loss down.
            Remb = video && remb && codec.HasFeedback("goog-remb"),
            MaxReorderWait = video ? TimeSpan.FromMilliseconds(50) : AudioReorderWait,
            ReducedSizeFeedback = RemoteReducedSize,
            CName = cname,
        });
        Jitter = video ? null : new AudioJitterBuffer(RtpClock.ClockRateOf(mediaCodec), AudioJitterDelay, maxFrames: 64, maxFrameSize: 1500);
        _audioClock = new RtpClock(RtpClock.ClockRateOf(mediaCodec), 0);
        _audioCodec = mediaCodec;
        _audioBase = null;
        _audioUnits = 0;
        _receiverCodec = codec;
        _receiverRtx = Rtx;
        return Receiver;
    }

    /// <summary>Send statistics over every send stream this section had.</summary>
    public RtpSendStatistics SendStatistics => Sender is null ? _retiredSend : Add(_retiredSend, Sender.Statistics);

    /// <summary>Receive statistics over every receive stream this section had.</summary>
    public RtpReceiveStatistics ReceiveStatistics => Receiver is null ? _retiredReceive : Add(_retiredReceive, Receiver.Statistics);

    private static RtpSendStatistics Add(RtpSendStatistics a, RtpSendStatistics b) => b with
    {
        PacketsSent = a.PacketsSent + b.PacketsSent,
        OctetsSent = a.OctetsSent + b.OctetsSent,
        PacketsRetransmitted = a.PacketsRetransmitted + b.PacketsRetransmitted,
        NacksReceived = a.NacksReceived + b.NacksReceived,
        NackedPacketsUnavailable = a.NackedPacketsUnavailable + b.NackedPacketsUnavailable,
        KeyframeRequests = a.KeyframeRequests + b.KeyframeRequests,
        PacketsDroppedUnsent = a.PacketsDroppedUnsent + b.PacketsDroppedUnsent,
        PliReceived = a.PliReceived + b.PliReceived,
        FirReceived = a.FirReceived + b.FirReceived,
        RrtrReceived = a.RrtrReceived + b.RrtrReceived,
    };

    private static RtpReceiveStatistics Add(RtpReceiveStatistics a, RtpReceiveStatistics b) => b with
    {
        PacketsReceived = a.PacketsReceived + b.PacketsReceived,
        OctetsReceived = a.OctetsReceived + b.OctetsReceived,
        CumulativeLost = a.CumulativeLost + b.CumulativeLost,
        PacketsDiscarded = a.PacketsDiscarded + b.PacketsDiscarded,
        NacksSent = a.NacksSent + b.NacksSent,
        PacketsRecovered = a.PacketsRecovered + b.PacketsRecovered,
        PacketsGivenUp = a.PacketsGivenUp + b.PacketsGivenUp,
        PlisSent = a.PlisSent + b.PlisSent,
        FramesDelivered = a.FramesDelivered + b.FramesDelivered,
        FramesDropped = a.FramesDropped + b.FramesDropped,
    };

    // ------------------------------------------------------------------ received frames

    private readonly byte[]?[] _frameData = new byte[FrameQueueCapacity][];
    private readonly int[] _frameLength = new int[FrameQueueCapacity];
    private readonly TimeSpan[] _frameTime = new TimeSpan[FrameQueueCapacity];
    private readonly bool[] _frameKey = new bool[FrameQueueCapacity];
    private readonly MediaCodec[] _frameCodec = new MediaCodec[FrameQueueCapacity];
    private int _frameHead, _frameCount;
    private bool _frameLent;
    private byte[]? _audioScratch;
    private uint? _audioBase;
    private uint _audioLast;
    private long _audioUnits;
    private RtpClock _audioClock;
    private MediaCodec _audioCodec;

    /// <summary>Frames waiting for the driver.</summary>
    public int QueuedFrames => _frameCount - (_frameLent ? 1 : 0);

    /// <summary>
    /// Moves what the receive stream (and, for audio, the jitter buffer) has ready at <paramref name="now"/> into the
    /// frame queue. Returns true when at least one frame was queued.
    /// </summary>
    public bool Pump(TimeSpan now)
    {
        if (Receiver is not { } rs) return false;
        bool queued = false;
        while (rs.TryPollFrame(now, out var frame))
        {
            if (Jitter is { } jb) jb.Push(frame.Data.Span, rs.LastFrameRtpTimestamp, now);
            else queued |= QueueFrame(frame.Codec, frame.Data.Span, frame.Timestamp, frame.IsKeyframe);
        }
        if (Jitter is { } jitter)
        {
            _audioScratch ??= new byte[1500];
            while (true)
            {
                var r = jitter.TryPop(now, _audioScratch, out int n, out uint ts);
                if (r == AudioPlayout.None) break;
                if (r == AudioPlayout.Lost)
                {
                    FramesConcealed++;
                    continue;
                }
                if (_audioBase is null)
                {
                    _audioBase = ts;
                    _audioLast = ts;
                }
                _audioUnits += (int)(ts - _audioLast);
                _audioLast = ts;
                queued |= QueueFrame(_audioCodec, _audioScratch.AsSpan(0, n), _audioClock.ToTime(_audioUnits), true);
            }
        }
        return queued;
    }

    private bool QueueFrame(MediaCodec codec, ReadOnlySpan<byte> data, TimeSpan time, bool key)
    {
        if (_frameCount == FrameQueueCapacity)
        {
            // The driver did not drain: drop the oldest unread frame. Video cannot be decoded past a dropped frame,
            // so the receiver holds delta frames back and asks for a keyframe.
            int drop = _frameLent ? (_frameHead + 1) % FrameQueueCapacity : _frameHead;
            if (_frameLent)
            {
                // keep the lent frame in place: move it into the dropped slot's position
                (_frameData[drop], _frameData[_frameHead]) = (_frameData[_frameHead], _frameData[drop]);
                _frameLength[drop] = _frameLength[_frameHead];
                _frameTime[drop] = _frameTime[_frameHead];
                _frameKey[drop] = _frameKey[_frameHead];
                _frameCodec[drop] = _frameCodec[_frameHead];
            }
            _frameHead = (_frameHead + 1) % FrameQueueCapacity;
            _frameCount--;
            FrameQueueDrops++;
            if (Kind == MediaKind.Video) Receiver?.RequestKeyframe(discardUntilKeyframe: true);
        }
        int at = (_frameHead + _frameCount) % FrameQueueCapacity;
        var buf = _frameData[at];
        if (buf is null || buf.Length < data.Length) _frameData[at] = buf = new byte[Math.Max(data.Length, buf is null ? 2048 : buf.Length * 2)];
        data.CopyTo(buf);
        _frameLength[at] = data.Length;
        _frameTime[at] = time;
        _frameKey[at] = key;
        _frameCodec[at] = codec;
        _frameCount++;
        FramesQueued++;
        return true;
    }

    /// <summary>Takes the next queued frame; its memory stays valid until the next call (it is then reused).</summary>
    public bool TryReadFrame(out EncodedFrame frame)
    {
        if (_frameLent)
        {
            _frameLent = false;
            _frameHead = (_frameHead + 1) % FrameQueueCapacity;
            _frameCount--;
        }
        if (_frameCount == 0)
        {
            frame = default;
            return false;
        }
        int i = _frameHead;
        frame = new EncodedFrame(_frameCodec[i], _frameData[i].AsMemory(0, _frameLength[i]), _frameTime[i], _frameKey[i]);
        _frameLent = true;
        return true;
    }
}
