using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Device;
using OspBridge.Media;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.Osp;
using OspBridge.Osp.Messages;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Camera;

/// <summary>
/// <c>agent --camera &lt;source&gt;</c>: the agent serves one camera source to its trusted peers. The agent's device-side
/// WebRTC answering (<see cref="DeviceWebRtc"/>, one LAN signaling session per authenticated connection) hands every
/// offer to this provider; every offer with media (the controller's recvonly video + audio,
/// optionally a sendonly talk-back audio) is answered by a new peer connection whose video/audio senders are fed from
/// one <see cref="MediaHub"/> sink (no transcoding; the hub's GOP cache starts each viewer at a keyframe; PLI/FIR ask
/// the source for a keyframe). Talk-back audio that arrives is counted and logged (no camera back channel yet).
/// </summary>
internal sealed class CameraService : IDeviceMediaProvider, IAsyncDisposable
{
    /// <summary>Most viewers (peer connections) at once over all peers.</summary>
    public const int MaxViewers = 32;

    private readonly MediaHub _hub;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private int _viewers;

    public CameraService(string source, IReadOnlyList<string>? interfaces, ILogger log, ILoggerFactory? loggerFactory)
    {
        _hub = new MediaHub(MediaSource.Create(source, new MediaSourceOptions { LoggerFactory = loggerFactory }));
        _log = log;
    }

    /// <summary>Viewers now.</summary>
    public int Viewers => Volatile.Read(ref _viewers);

    /// <summary>
    /// <see cref="IDeviceMediaProvider"/>: called by the agent's device-side WebRTC answering (one dispatcher per
    /// authenticated connection, shared with PeerFetch data channels) after the offer is the remote description and
    /// before the answer is made. Offers with audio/video sections get the camera's senders and a viewer fed from the
    /// hub; data-only offers (a bridge's PeerFetch channel) are left alone.
    /// </summary>
    public async ValueTask AttachAsync(RTCPeerConnection peerConnection, string peerId, LanSignalingOffer offer, CancellationToken cancellationToken)
    {
        var transceivers = peerConnection.GetTransceivers();
        bool hasVideo = transceivers.Any(t => t.Kind == MediaKind.Video);
        bool hasAudio = transceivers.Any(t => t.Kind == MediaKind.Audio);
        if (!hasVideo && !hasAudio)
            return;
        if (Interlocked.Increment(ref _viewers) > MaxViewers)
        {
            Interlocked.Decrement(ref _viewers);
            throw new CliException($"the camera serves at most {MaxViewers} viewers at once");
        }
        try
        {
            RTCRtpSender? video = hasVideo ? await peerConnection.AddTrackAsync(MediaKind.Video, cancellationToken).ConfigureAwait(false) : null;
            RTCRtpSender? audio = hasAudio ? await peerConnection.AddTrackAsync(MediaKind.Audio, cancellationToken).ConfigureAwait(false) : null;
            _ = Task.Run(() => RunViewerAsync(peerConnection, video, audio, peerId, _stop.Token), CancellationToken.None);
        }
        catch
        {
            Interlocked.Decrement(ref _viewers);
            throw;
        }
    }

    /// <summary>Feeds one viewer from a hub sink until its peer connection closes or fails.</summary>
    private async Task RunViewerAsync(RTCPeerConnection pc, RTCRtpSender? video, RTCRtpSender? audio, string peerId, CancellationToken ct)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(ct);
        pc.OnConnectionStateChange += s =>
        {
            if (s is RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed)
                ended.Cancel();
        };
        if (video is not null)
            video.KeyframeRequested += () => _hub.Source.RequestKeyframe();
        var talkBack = pc.GetTransceivers().Where(t => t.Kind == MediaKind.Audio && t.Direction.Receives()).Select(t => t.Receiver).ToList();
        var talk = Task.WhenAll(talkBack.Select(r => CountTalkBackAsync(r, peerId, ended.Token)));
        try
        {
            await using var sink = await _hub.AddSinkAsync(ended.Token).ConfigureAwait(false);
            AgentOutput.WriteLine($"viewer {peerId} started ({_hub.SinkCount} watching)");
            await foreach (var frame in sink.ReadAllAsync(ended.Token).ConfigureAwait(false))
            {
                var sender = frame.Codec is MediaCodec.H264 or MediaCodec.H265 ? video : audio;
                sender?.WriteFrame(frame);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is MediaException or WebRtcException or ObjectDisposedException)
        {
            if (_log.IsEnabled(LogLevel.Warning)) _log.LogWarning("viewer {Peer}: {Error}", peerId, ex.Message);
        }
        finally
        {
            Interlocked.Decrement(ref _viewers);
            AgentOutput.WriteLine($"viewer {peerId} left (video frames sent {video?.FramesSent ?? 0})");
            await ended.CancelAsync().ConfigureAwait(false);
            try { await talk.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    private async Task CountTalkBackAsync(RTCRtpReceiver receiver, string peerId, CancellationToken ct)
    {
        long frames = 0;
        try
        {
            await foreach (var _ in receiver.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (++frames == 1 && _log.IsEnabled(LogLevel.Information))
                    _log.LogInformation("talk-back audio from {Peer} (no back channel configured: dropped)", peerId);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _hub.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>The agent's stdout lines (one lock so lines never interleave).</summary>
internal static class AgentOutput
{
    public static void WriteLine(string line)
    {
        lock (Console.Out)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }
}
