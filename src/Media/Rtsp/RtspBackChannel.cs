using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// The ONVIF back channel of one playing RTSP session (ONVIF Streaming Specification §5.3): the <c>a=sendonly</c> audio
/// section the camera offered after a DESCRIBE with <c>Require: www.onvif.org/ver20/backchannel</c>, set up like the
/// other tracks; RTP we send goes over the same session — on the section's interleaved RTP channel (TCP) or from our
/// <c>client_port</c> RTP socket to the camera's <c>server_port</c> (UDP). Lives from PLAY to the session's end.
/// </summary>
/// <param name="Codec">PCMU, PCMA or Opus.</param>
/// <param name="PayloadType">The section's payload type.</param>
/// <param name="ClockRate">The RTP clock rate (8000 for G.711).</param>
/// <param name="Transport">TCP-interleaved or UDP.</param>
/// <param name="Send">Sends one RTP packet (the buffer is free again when the task completes). Over TCP the buffer starts
/// with <see cref="RtspInterleavedFrame.HeaderLength"/> reserved octets that <paramref name="Send"/> fills with the
/// interleaved header of the section's RTP channel.</param>
internal sealed record RtspBackChannel(MediaCodec Codec, byte PayloadType, int ClockRate, RtspTransport Transport,
    Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Send)
{
    /// <summary>The ONVIF feature tag a client puts in <c>Require</c> to be offered the back channel.</summary>
    public const string RequireTag = "www.onvif.org/ver20/backchannel";

    /// <summary>True for a section a client may use as the back channel: audio, <c>a=sendonly</c>, a codec we can send.</summary>
    public static bool IsBackChannel(RtspMediaDescription m) =>
        m.Kind == "audio" && m.Direction == "sendonly" && m.Codec is MediaCodec.Pcmu or MediaCodec.Pcma or MediaCodec.Opus &&
        m.PayloadType is >= 0 and < 128 && m.ClockRate > 0;
}
