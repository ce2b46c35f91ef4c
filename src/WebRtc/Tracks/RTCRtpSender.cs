using System.Buffers;
using OspBridge.WebRtc.Media;

namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// W3C <c>RTCRtpSender</c>, fed with encoded frames (no encoder inside): <see cref="WriteFrame"/> hands an access unit
/// (Annex B) or an audio packet to the connection's loop, where the transceiver's <see cref="RtpSendStream"/>
/// packetizes it (H.264 single NAL / STAP-A / FU-A, H.265, Opus/G.711) on the negotiated payload type, with the RTP
/// timestamp from <see cref="EncodedFrame.Timestamp"/> at the codec's clock, and keeps the packets for NACK
/// retransmission. PLI/FIR from the peer raise <see cref="KeyframeRequested"/> so the source can produce an IDR.
/// </summary>
public sealed class RTCRtpSender
{
    private readonly RTCPeerConnection _pc;
    private long _framesSent;
    private long _framesDropped;
    private long _keyframeRequests;
    private ulong _bitrateEstimate;

    internal RTCRtpSender(RTCPeerConnection pc, RTCRtpTransceiver transceiver)
    {
        _pc = pc;
        Transceiver = transceiver;
    }

    /// <summary>The owning transceiver.</summary>
    public RTCRtpTransceiver Transceiver { get; }

    /// <summary>
    /// Raised (on the connection's loop; do not block) when the peer asks for a keyframe with a PLI or FIR. Requests
    /// closer together than 300 ms are merged into one event (<see cref="RtpSendStreamOptions.KeyframeRequestMinInterval"/>);
    /// <see cref="KeyframeRequests"/> counts them all.
    /// </summary>
    public event Action? KeyframeRequested;

    /// <summary>Frames handed to the loop.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Frames not sent: not negotiated yet, wrong codec, refused by the packetizer, or the connection is closed.</summary>
    public long FramesDropped => Interlocked.Read(ref _framesDropped);

    /// <summary>The peer's last REMB for this stream in bit/s (its receive-side bandwidth estimate), or null.</summary>
    public ulong? BitrateEstimate
    {
        get { ulong v = Interlocked.Read(ref _bitrateEstimate); return v == 0 ? null : v; }
        internal set => Interlocked.Exchange(ref _bitrateEstimate, value ?? 0);
    }

    /// <summary>Keyframe request events raised (PLI/FIR after merging).</summary>
    public long KeyframeRequests => Interlocked.Read(ref _keyframeRequests);

    /// <summary>
    /// Sends one frame (thread-safe, does not block). Returns false when it was dropped: nothing negotiated to send
    /// yet, a codec other than the negotiated one, or a closed connection. <see cref="EncodedFrame.Data"/> is copied
    /// (into a pooled buffer) before this returns.
    /// </summary>
    public bool WriteFrame(EncodedFrame frame)
    {
        var codec = Transceiver.Codec;
        if (codec is null || RtpCodecNegotiation.CodecOf(codec) != frame.Codec || !Transceiver.CurrentDirection.Sends() || frame.Data.IsEmpty)
        {
            CountDropped();
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(frame.Data.Length);
        frame.Data.Span.CopyTo(buffer);
        if (!_pc.PostFrame(Transceiver, frame with { Data = buffer.AsMemory(0, frame.Data.Length) }, buffer))
        {
            ArrayPool<byte>.Shared.Return(buffer);
            CountDropped();
            return false;
        }
        Interlocked.Increment(ref _framesSent);
        return true;
    }

    internal void CountDropped() => Interlocked.Increment(ref _framesDropped);

    /// <summary>On the loop: counts the peer's request; the handlers to run (off the loop, issue 14), or null.</summary>
    internal Action? CountKeyframeRequest()
    {
        Interlocked.Increment(ref _keyframeRequests);
        return KeyframeRequested;
    }
}
