using System.Globalization;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Camera;

/// <summary>What a camera does on an offer's media sections: the senders it feeds and the talk-back receivers.</summary>
/// <param name="Video">The video sender (null: the offer wants no video).</param>
/// <param name="Audio">The audio sender (null: the offer wants no audio).</param>
/// <param name="TalkBack">Receivers of the audio sections the peer sends (talk-back).</param>
/// <param name="PublishedVideo">The receiver of the video section a WHIP publisher sends (null: none, or not a publisher).</param>
internal sealed record CameraMedia(RTCRtpSender? Video, RTCRtpSender? Audio, IReadOnlyList<RTCRtpReceiver> TalkBack, RTCRtpReceiver? PublishedVideo = null)
{
    /// <summary>True when the offer had any media the camera takes part in.</summary>
    public bool Any => Video is not null || Audio is not null || TalkBack.Count > 0 || PublishedVideo is not null;
}

/// <summary>
/// Chooses, on an offer that is the remote description and before the answer, which offered sections the camera sends
/// on and which it receives on, from the offered directions: the first video and the first audio section the peer
/// wants to receive (recvonly/sendrecv) get the camera's senders; every audio section the peer sends on
/// (sendonly/sendrecv) is talk-back. So a viewer's offer (recvonly video + recvonly audio + sendonly audio) is answered
/// sendonly/sendonly/recvonly, a browser's sendrecv audio sendrecv, and a WHIP-style offer that only sends audio
/// recvonly — without starting the camera. With <c>receiveVideo</c> (a WHIP publisher's offer) the first video section the
/// peer sends is received too (answered recvonly) for re-publishing to WHEP viewers (<see cref="PublishedStream"/>).
/// </summary>
internal static class CameraTransceivers
{
    public static async Task<CameraMedia> AttachAsync(RTCPeerConnection pc, string offerSdp, bool hasVideo, bool hasAudio, CancellationToken cancellationToken,
        bool receiveVideo = false)
    {
        var offered = OfferedDirections(offerSdp);
        RTCRtpSender? video = null, audio = null;
        RTCRtpReceiver? published = null;
        var talk = new List<RTCRtpReceiver>();
        foreach (var t in pc.GetTransceivers())
        {
            if (t.Mid is null || !offered.TryGetValue(t.Mid, out var remote))
                continue;
            bool send = remote.Receives() && (t.Kind == MediaKind.Video ? hasVideo && video is null : hasAudio && audio is null);
            bool receive = t.Kind == MediaKind.Audio && remote.Sends();
            if (receiveVideo && published is null && t.Kind == MediaKind.Video && remote.Sends() && !send)
            {
                await t.SetDirectionAsync(RTCRtpTransceiverDirection.RecvOnly, cancellationToken).ConfigureAwait(false);
                published = t.Receiver;
                continue;
            }
            if (send)
            {
                await t.SetDirectionAsync(RTCRtpTransceiverDirections.Of(true, receive), cancellationToken).ConfigureAwait(false);
                if (t.Kind == MediaKind.Video)
                    video = t.Sender;
                else
                    audio = t.Sender;
            }
            else if (t.Direction.Sends())
            {
                await t.SetDirectionAsync(RTCRtpTransceiverDirections.Of(false, receive), cancellationToken).ConfigureAwait(false);
            }
            if (receive)
                talk.Add(t.Receiver);
        }
        return new CameraMedia(video, audio, talk, published);
    }

    /// <summary>The direction of each offered audio/video section by mid (sections without a mid by index); port 0 sections left out.</summary>
    internal static Dictionary<string, RTCRtpTransceiverDirection> OfferedDirections(string sdp)
    {
        var map = new Dictionary<string, RTCRtpTransceiverDirection>(StringComparer.Ordinal);
        SessionDescription sd;
        try
        {
            sd = SessionDescription.Parse(sdp);
        }
        catch (Exception ex) when (ex is WebRtcException or FormatException)
        {
            return map;
        }
        for (int i = 0; i < sd.Media.Count; i++)
        {
            var m = sd.Media[i];
            if (m.Media is not ("audio" or "video") || m.Port == 0)
                continue;
            map.TryAdd(m.Mid ?? i.ToString(CultureInfo.InvariantCulture), RTCRtpTransceiverDirections.FromSdp(m));
        }
        return map;
    }
}
