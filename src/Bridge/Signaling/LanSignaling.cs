using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Signaling;

/// <summary>
/// LAN signaling: a WebRTC offer/answer carried over an authenticated OSP connection with our extension
/// messages (lan-signaling-offer 8193 / answer 8194, docs/osp-messages.md §5), so two agents need no
/// signaling server. Non-trickle: each description carries all candidates gathered.
/// </summary>
internal static class LanSignaling
{
    /// <summary>Offers <paramref name="pc"/> (with its data channels already created) to the peer and applies its answer.</summary>
    public static async Task OfferAsync(OspConnection connection, RTCPeerConnection pc, string label, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        using (var gather = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            gather.CancelAfter(timeout);
            await pc.WaitForGatheringCompleteAsync(gather.Token).ConfigureAwait(false);
        }
        ulong requestId = connection.NextRequestId();
        var answerTask = connection.WaitForAsync<LanSignalingAnswer>(a => a.RequestId == requestId, timeout, cancellationToken);
        await connection.SendAsync(new LanSignalingOffer
        {
            RequestId = requestId,
            SessionId = requestId,
            Sdp = pc.LocalDescription!.Sdp,
            Label = label,
            TrickleIce = false,
        }, cancellationToken).ConfigureAwait(false);
        var answer = await answerTask.ConfigureAwait(false);
        if (answer.Result != Result.Success || answer.Sdp is null)
            throw new CliException($"peer rejected the WebRTC offer: {answer.Result} {answer.ErrorMessage}");
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer.Sdp), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Answers one offer with a new peer connection made by <paramref name="createPeerConnection"/>; returns it.</summary>
    public static async Task<RTCPeerConnection> AnswerAsync(OspConnection connection, LanSignalingOffer offer,
        Func<RTCPeerConnection> createPeerConnection, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var pc = createPeerConnection();
        try
        {
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer.Sdp), cancellationToken).ConfigureAwait(false);
            await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            using (var gather = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                gather.CancelAfter(timeout);
                await pc.WaitForGatheringCompleteAsync(gather.Token).ConfigureAwait(false);
            }
            await connection.SendAsync(new LanSignalingAnswer { RequestId = offer.RequestId, Result = Result.Success, Sdp = pc.LocalDescription!.Sdp }, cancellationToken).ConfigureAwait(false);
            return pc;
        }
        catch (WebRtcException ex)
        {
            await connection.SendAsync(new LanSignalingAnswer { RequestId = offer.RequestId, Result = Result.PermanentError, ErrorMessage = ex.Message }, cancellationToken).ConfigureAwait(false);
            await pc.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
