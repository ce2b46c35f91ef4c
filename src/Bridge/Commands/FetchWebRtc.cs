using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Signaling;
using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Signaling;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>fetch --transport webrtc</c>: a WebRTC peer connection to the agent, offered over LAN signaling on the
/// authenticated LP2P session, with one data channel labelled <c>http-proxy</c> (the agent serves PeerFetch v1/v2 on
/// it, as for a browser behind the bridge). Disposing closes the peer connection.
/// </summary>
internal sealed class FetchWebRtc : IAsyncDisposable
{
    private readonly RTCPeerConnection _pc;

    private FetchWebRtc(RTCPeerConnection pc, RTCDataChannel channel)
    {
        _pc = pc;
        Channel = channel;
    }

    /// <summary>The open <c>http-proxy</c> data channel.</summary>
    public RTCDataChannel Channel { get; }

    public static async Task<FetchWebRtc> OpenAsync(LP2PConnection connection, IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger logger, CancellationToken ct)
    {
        var pc = new RTCPeerConnection(new RTCConfiguration { Interfaces = interfaces, ObfuscateHostCandidates = false },
            new RTCPeerConnectionOptions { Logger = logger });
        try
        {
            var channel = pc.CreateDataChannel(FetchCommand.Label);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(timeout);
            try
            {
                using (var signaling = new LanSignalingSession(connection.Connection, new LanSignalingOptions { AnswerTimeout = timeout }, logger))
                    await LanSignaling.OfferAsync(signaling, pc, FetchCommand.Label, timeout, limit.Token).ConfigureAwait(false);
                await channel.WaitOpenAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new CliException($"the WebRTC data channel did not open within {timeout.TotalSeconds:0.#} s");
            }
            catch (Exception ex) when (ex is OspException or WebRtcException)
            {
                throw new CliException($"WebRTC to the agent failed: {CliErrors.OneLine(ex.Message)}");
            }
            return new FetchWebRtc(pc, channel);
        }
        catch
        {
            await pc.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => _pc.DisposeAsync();
}
