namespace OspBridge.WebRtc.Tracks;

/// <summary>W3C <c>RTCRtpTransceiverDirection</c> (SDP <c>a=sendrecv|sendonly|recvonly|inactive</c>).</summary>
public enum RTCRtpTransceiverDirection
{
    /// <summary>Send and receive.</summary>
    SendRecv,
    /// <summary>Send only.</summary>
    SendOnly,
    /// <summary>Receive only.</summary>
    RecvOnly,
    /// <summary>Neither.</summary>
    Inactive,
    /// <summary>Stopped (the m-section is rejected, port 0).</summary>
    Stopped,
}

/// <summary>The kind of an RTP m-section / track.</summary>
public enum MediaKind
{
    /// <summary><c>m=audio</c>.</summary>
    Audio,
    /// <summary><c>m=video</c>.</summary>
    Video,
}

/// <summary>Direction helpers (SDP names, offer/answer intersection).</summary>
public static class RTCRtpTransceiverDirections
{
    /// <summary>The SDP attribute name (<c>sendrecv</c>...).</summary>
    public static string ToSdp(this RTCRtpTransceiverDirection d) => d switch
    {
        RTCRtpTransceiverDirection.SendRecv => "sendrecv",
        RTCRtpTransceiverDirection.SendOnly => "sendonly",
        RTCRtpTransceiverDirection.RecvOnly => "recvonly",
        _ => "inactive",
    };

    /// <summary>The direction attribute of an m-section (sendrecv when absent, RFC 8866 §6.7).</summary>
    public static RTCRtpTransceiverDirection FromSdp(Sdp.SdpMediaDescription media)
    {
        ArgumentNullException.ThrowIfNull(media);
        if (media.Port == 0) return RTCRtpTransceiverDirection.Inactive;
        foreach (var a in media.Attributes)
        {
            switch (a.Name)
            {
                case "sendrecv": return RTCRtpTransceiverDirection.SendRecv;
                case "sendonly": return RTCRtpTransceiverDirection.SendOnly;
                case "recvonly": return RTCRtpTransceiverDirection.RecvOnly;
                case "inactive": return RTCRtpTransceiverDirection.Inactive;
            }
        }
        return RTCRtpTransceiverDirection.SendRecv;
    }

    /// <summary>True when the direction includes sending.</summary>
    public static bool Sends(this RTCRtpTransceiverDirection d) => d is RTCRtpTransceiverDirection.SendRecv or RTCRtpTransceiverDirection.SendOnly;

    /// <summary>True when the direction includes receiving.</summary>
    public static bool Receives(this RTCRtpTransceiverDirection d) => d is RTCRtpTransceiverDirection.SendRecv or RTCRtpTransceiverDirection.RecvOnly;

    /// <summary>From send/receive flags.</summary>
    public static RTCRtpTransceiverDirection Of(bool send, bool receive) => (send, receive) switch
    {
        (true, true) => RTCRtpTransceiverDirection.SendRecv,
        (true, false) => RTCRtpTransceiverDirection.SendOnly,
        (false, true) => RTCRtpTransceiverDirection.RecvOnly,
        _ => RTCRtpTransceiverDirection.Inactive,
    };

    /// <summary>
    /// The answer's direction (RFC 8829 §5.3.1): we send only if we want to and the offerer receives; we receive only
    /// if we want to and the offerer sends.
    /// </summary>
    public static RTCRtpTransceiverDirection Answer(RTCRtpTransceiverDirection local, RTCRtpTransceiverDirection offered) =>
        Of(local.Sends() && offered.Receives(), local.Receives() && offered.Sends());

    /// <summary>Our direction as seen from the peer (sendonly ↔ recvonly).</summary>
    public static RTCRtpTransceiverDirection Reverse(this RTCRtpTransceiverDirection d) => Of(d.Receives(), d.Sends());
}
