using OspBridge.WebRtc.Sdp;

namespace OspBridge.WebRtc.Tracks;

/// <summary>W3C <c>RTCRtpTransceiverInit</c>.</summary>
public sealed record RTCRtpTransceiverInit
{
    /// <summary>The direction we want (default sendrecv).</summary>
    public RTCRtpTransceiverDirection Direction { get; init; } = RTCRtpTransceiverDirection.SendRecv;
}

/// <summary>
/// W3C <c>RTCRtpTransceiver</c>: one audio/video m-section with its <see cref="Sender"/> and <see cref="Receiver"/>.
/// Properties are snapshots refreshed on the connection's loop after each offer/answer step.
/// </summary>
public sealed class RTCRtpTransceiver
{
    private readonly RTCPeerConnection _pc;
    private volatile RtpTransceiverInfo _info;

    internal RTCRtpTransceiver(RTCPeerConnection pc, RtpTransceiverInfo info)
    {
        _pc = pc;
        _info = info;
        Index = info.Index;
        Kind = info.Kind;
        Sender = new RTCRtpSender(pc, this);
        Receiver = new RTCRtpReceiver(pc, this);
    }

    internal int Index { get; }

    /// <summary>The m-section id, null until negotiated.</summary>
    public string? Mid => _info.Mid;

    /// <summary>Audio or video.</summary>
    public MediaKind Kind { get; }

    /// <summary>The direction we want.</summary>
    public RTCRtpTransceiverDirection Direction => _info.Direction;

    /// <summary>The negotiated direction (W3C <c>currentDirection</c>); Inactive before negotiation.</summary>
    public RTCRtpTransceiverDirection CurrentDirection => _info.CurrentDirection;

    /// <summary>The negotiated payload format, or null.</summary>
    public RtpCodecDescription? Codec => _info.Codec;

    /// <summary>The sending half.</summary>
    public RTCRtpSender Sender { get; }

    /// <summary>The receiving half.</summary>
    public RTCRtpReceiver Receiver { get; }

    /// <summary>
    /// W3C <c>setCodecPreferences</c>: the codecs this transceiver may negotiate, most wanted first (empty = default:
    /// H.264 before H.265 for video). A device whose camera sends H.265 calls it with <c>[H265]</c> (or <c>[H265, H264]</c>)
    /// after receiving the offer and before answering; an offerer calls it before creating the offer.
    /// </summary>
    public Task SetCodecPreferencesAsync(IReadOnlyList<OspBridge.WebRtc.Media.MediaCodec> codecs, CancellationToken cancellationToken = default) =>
        _pc.SetCodecPreferencesAsync(this, codecs, cancellationToken);

    /// <summary>Changes the direction we want; applies with the next offer/answer.</summary>
    public Task SetDirectionAsync(RTCRtpTransceiverDirection direction, CancellationToken cancellationToken = default) =>
        _pc.SetTransceiverDirectionAsync(this, direction, cancellationToken);

    /// <summary>Counters of this transceiver (W3C <c>getStats()</c>-shaped subset), read on the loop.</summary>
    public Task<RtpTransceiverInfo> GetStatsAsync(CancellationToken cancellationToken = default) => _pc.GetTransceiverInfoAsync(this, cancellationToken);

    internal RtpTransceiverInfo Info => _info;

    internal void Update(RtpTransceiverInfo info) => _info = info;
}

/// <summary>W3C <c>RTCTrackEvent</c>: the peer's description makes <see cref="Transceiver"/> receive media.</summary>
/// <param name="Transceiver">The transceiver (its <see cref="RTCRtpTransceiver.Receiver"/> delivers the frames).</param>
public sealed record RTCTrackEvent(RTCRtpTransceiver Transceiver);
