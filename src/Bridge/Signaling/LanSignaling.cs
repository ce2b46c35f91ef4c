using OspBridge.Osp;
using OspBridge.Osp.Signaling;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Signaling;

/// <summary>
/// The glue between LAN signaling (<see cref="LanSignalingSession"/> in OspBridge.Osp: SDP offer/answer over an
/// OSP connection) and WebRTC: it creates and configures <see cref="RTCPeerConnection"/>s. It lives in the
/// Bridge because it joins the Osp and WebRtc layers, which do not know each other.
/// </summary>
internal static class LanSignaling
{
    /// <summary>Offers <paramref name="pc"/> (with its data channels already created) to the peer and applies its answer.</summary>
    public static async Task OfferAsync(LanSignalingSession session, RTCPeerConnection pc, string label, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        await GatherAsync(pc, timeout, cancellationToken).ConfigureAwait(false);
        string answer;
        try
        {
            answer = await session.OfferAsync(pc.LocalDescription!.Sdp, label, cancellationToken).ConfigureAwait(false);
        }
        catch (OspException ex) when (ex.Error == OspError.Refused)
        {
            throw new CliException(ex.Message);
        }

        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes the answer to <paramref name="offerSdp"/> on <paramref name="pc"/> (remote description, local answer,
    /// gathering complete) and returns its SDP; <see cref="WebRtcException"/> for an offer WebRTC cannot take.
    /// </summary>
    public static Task<string> AnswerAsync(RTCPeerConnection pc, string offerSdp, TimeSpan timeout, CancellationToken cancellationToken) =>
        AnswerAsync(pc, offerSdp, timeout, null, cancellationToken);

    /// <summary>
    /// Like <see cref="AnswerAsync(RTCPeerConnection, string, TimeSpan, CancellationToken)"/>, with
    /// <paramref name="beforeAnswer"/> run after the offer is the remote description and before the answer is created
    /// (where a media provider adds its tracks to the offered transceivers).
    /// </summary>
    public static async Task<string> AnswerAsync(RTCPeerConnection pc, string offerSdp, TimeSpan timeout, Func<CancellationToken, ValueTask>? beforeAnswer, CancellationToken cancellationToken)
    {
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offerSdp), cancellationToken).ConfigureAwait(false);
        if (beforeAnswer is not null)
            await beforeAnswer(cancellationToken).ConfigureAwait(false);
        await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        await GatherAsync(pc, timeout, cancellationToken).ConfigureAwait(false);
        return pc.LocalDescription!.Sdp;
    }

    /// <summary>
    /// A callback for <see cref="LanSignalingSession.ServeAsync(Func{Osp.Messages.LanSignalingOffer, CancellationToken, Task{string}}, CancellationToken)"/>: each offer gets a new peer connection from
    /// <paramref name="createPeerConnection"/>, handed to <paramref name="onPeerConnection"/> once answered; a peer
    /// connection whose answer fails is disposed (and the offer is rejected by the session).
    /// </summary>
    public static Func<Osp.Messages.LanSignalingOffer, CancellationToken, Task<string>> Answerer(
        Func<RTCPeerConnection> createPeerConnection, Action<RTCPeerConnection> onPeerConnection, TimeSpan timeout) =>
        async (offer, cancellationToken) =>
        {
            var pc = createPeerConnection();
            try
            {
                string sdp = await AnswerAsync(pc, offer.Sdp, timeout, cancellationToken).ConfigureAwait(false);
                onPeerConnection(pc);
                return sdp;
            }
            catch
            {
                await pc.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        };

    private static async Task GatherAsync(RTCPeerConnection pc, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var gather = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        gather.CancelAfter(timeout);
        await pc.WaitForGatheringCompleteAsync(gather.Token).ConfigureAwait(false);
    }
}
