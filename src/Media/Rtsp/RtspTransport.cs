namespace OspBridge.Media.Rtsp;

/// <summary>How an RTSP session carries its RTP (RFC 2326 §12.39).</summary>
public enum RtspTransport
{
    /// <summary>TCP-interleaved: RTP and RTCP framed with <c>$</c> on the RTSP connection (<c>RTP/AVP/TCP;interleaved=…</c>).</summary>
    Tcp,

    /// <summary>UDP: RTP and RTCP on a pair of client ports (<c>RTP/AVP;unicast;client_port=…</c>), falling back to TCP when refused or silent.</summary>
    Udp,
}
