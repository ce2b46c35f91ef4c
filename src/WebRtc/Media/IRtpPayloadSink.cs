namespace OspBridge.WebRtc.Media;

/// <summary>Receives the payloads of <see cref="RtpPacketizer.Packetize"/>.</summary>
public interface IRtpPayloadSink
{
    /// <summary>One RTP payload (valid only during the call) and its marker bit.</summary>
    void OnPayload(ReadOnlySpan<byte> payload, bool marker);
}
