using OspBridge.WebRtc.Media;

namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// W3C <c>RTCRtpSender</c>, fed with encoded frames (no encoder inside): <see cref="WriteFrame"/> packetizes an
/// access unit (H.264 single NAL / FU-A) or an audio packet into RTP on the negotiated payload type, with the RTP
/// timestamp from <see cref="EncodedFrame.Timestamp"/> at the codec's clock. PLI/FIR from the peer raise
/// <see cref="KeyframeRequested"/> so the source can produce an IDR.
/// </summary>
public sealed class RTCRtpSender
{
    /// <summary>Largest RTP payload we produce (one SRTP datagram stays under 1280 octets).</summary>
    public const int MaxPayloadSize = 1100;

    private readonly RTCPeerConnection _pc;
    private long _framesSent;
    private long _framesDropped;
    private long _keyframeRequests;

    internal RTCRtpSender(RTCPeerConnection pc, RTCRtpTransceiver transceiver)
    {
        _pc = pc;
        Transceiver = transceiver;
    }

    /// <summary>The owning transceiver.</summary>
    public RTCRtpTransceiver Transceiver { get; }

    /// <summary>Raised (on the connection's loop; do not block) when the peer sends a PLI or FIR.</summary>
    public event Action? KeyframeRequested;

    /// <summary>Frames handed to the loop.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Frames not sent: not negotiated yet, wrong codec, or the connection is closed.</summary>
    public long FramesDropped => Interlocked.Read(ref _framesDropped);

    /// <summary>PLI/FIR received.</summary>
    public long KeyframeRequests => Interlocked.Read(ref _keyframeRequests);

    /// <summary>
    /// Sends one frame (thread-safe, does not block). Returns false when it was dropped: nothing negotiated to send
    /// yet, a codec other than the negotiated one, or a closed connection. <see cref="EncodedFrame.Data"/> is copied.
    /// </summary>
    public bool WriteFrame(EncodedFrame frame)
    {
        var codec = Transceiver.Codec;
        if (codec is null || RtpCodecNegotiation.CodecOf(codec) != frame.Codec || !Transceiver.CurrentDirection.Sends())
        {
            Interlocked.Increment(ref _framesDropped);
            return false;
        }
        uint ts = (uint)(ulong)(frame.Timestamp.Ticks * codec.ClockRate / TimeSpan.TicksPerSecond);
        var packets = new List<(ReadOnlyMemory<byte> Payload, bool Marker)>();
        if (frame.Codec is MediaCodec.H264)
        {
            var data = frame.Data.ToArray();
            H264Packetizer.Packetize(data, MaxPayloadSize, (p, last) => packets.Add((p, last)), data);
        }
        else
        {
            if (frame.Data.Length > MaxPayloadSize) { Interlocked.Increment(ref _framesDropped); return false; }
            packets.Add((frame.Data.ToArray(), false)); // audio: marker only after silence (RFC 3551 §4.1); we send continuously
        }
        if (!_pc.PostRtp(Transceiver, packets, ts))
        {
            Interlocked.Increment(ref _framesDropped);
            return false;
        }
        Interlocked.Increment(ref _framesSent);
        return true;
    }

    internal void RaiseKeyframeRequested()
    {
        Interlocked.Increment(ref _keyframeRequests);
        KeyframeRequested?.Invoke();
    }
}
