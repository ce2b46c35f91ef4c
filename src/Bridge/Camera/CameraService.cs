using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Signaling;
using OspBridge.Media;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Signaling;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Camera;

/// <summary>
/// <c>agent --camera &lt;source&gt;</c>: the agent serves one camera source to its trusted peers. Each authenticated
/// LP2P connection gets a LAN signaling session; every WebRTC offer on it (the controller's recvonly video + audio,
/// optionally a sendonly talk-back audio) is answered by a new peer connection whose video/audio senders are fed from
/// one <see cref="MediaHub"/> sink (no transcoding; the hub's GOP cache starts each viewer at a keyframe; PLI/FIR ask
/// the source for a keyframe). Talk-back audio that arrives is counted and logged (no camera back channel yet).
/// </summary>
internal sealed class CameraService : IAsyncDisposable
{
    /// <summary>Most viewers (peer connections) at once over all peers.</summary>
    public const int MaxViewers = 32;

    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(20);
    private readonly MediaHub _hub;
    private readonly IReadOnlyList<string>? _interfaces;
    private readonly ILogger _log;
    private readonly ILoggerFactory? _loggerFactory;
    private int _viewers;

    public CameraService(string source, IReadOnlyList<string>? interfaces, ILogger log, ILoggerFactory? loggerFactory)
    {
        _hub = new MediaHub(MediaSource.Create(source, new MediaSourceOptions { LoggerFactory = loggerFactory }));
        _interfaces = interfaces;
        _log = log;
        _loggerFactory = loggerFactory;
    }

    /// <summary>Viewers now.</summary>
    public int Viewers => Volatile.Read(ref _viewers);

    /// <summary>Answers the camera offers of one authenticated connection until it closes.</summary>
    public async Task ServeAsync(LP2PConnection connection, string peerId, CancellationToken ct)
    {
        using var signaling = new LanSignalingSession(connection.Connection, new LanSignalingOptions { AnswerTimeout = AnswerTimeout }, _log);
        var viewers = new List<Task>();
        try
        {
            await signaling.ServeAsync(async (offer, token) =>
            {
                if (Interlocked.Increment(ref _viewers) > MaxViewers)
                {
                    Interlocked.Decrement(ref _viewers);
                    throw new CliException($"the camera serves at most {MaxViewers} viewers at once");
                }
                RTCPeerConnection? pc = null;
                try
                {
                    pc = new RTCPeerConnection(new RTCConfiguration { Interfaces = _interfaces, ObfuscateHostCandidates = false },
                        new RTCPeerConnectionOptions { Logger = _loggerFactory?.CreateLogger("webrtc") ?? _log });
                    await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer.Sdp), token).ConfigureAwait(false);
                    var transceivers = pc.GetTransceivers();
                    RTCRtpSender? video = transceivers.Any(t => t.Kind == MediaKind.Video) ? await pc.AddTrackAsync(MediaKind.Video, token).ConfigureAwait(false) : null;
                    RTCRtpSender? audio = transceivers.Any(t => t.Kind == MediaKind.Audio) ? await pc.AddTrackAsync(MediaKind.Audio, token).ConfigureAwait(false) : null;
                    if (video is null && audio is null)
                        throw new CliException("the offer has no audio or video m-section");
                    await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync(token).ConfigureAwait(false), token).ConfigureAwait(false);
                    using (var gather = CancellationTokenSource.CreateLinkedTokenSource(token))
                    {
                        gather.CancelAfter(AnswerTimeout);
                        await pc.WaitForGatheringCompleteAsync(gather.Token).ConfigureAwait(false);
                    }
                    string sdp = pc.LocalDescription!.Sdp;
                    var viewerPc = pc;
                    pc = null;
                    lock (viewers)
                    {
                        viewers.RemoveAll(t => t.IsCompleted);
                        viewers.Add(Task.Run(() => RunViewerAsync(viewerPc, video, audio, peerId, ct), CancellationToken.None));
                    }
                    return sdp;
                }
                catch
                {
                    Interlocked.Decrement(ref _viewers);
                    if (pc is not null)
                        await pc.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OspException or OperationCanceledException)
        {
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("camera signaling with {Peer} ended: {Error}", peerId, ex.Message);
        }
        Task[] left;
        lock (viewers) left = [.. viewers];
        await Task.WhenAll(left).ConfigureAwait(false);
    }

    /// <summary>Feeds one viewer from a hub sink until its peer connection closes or fails.</summary>
    private async Task RunViewerAsync(RTCPeerConnection pc, RTCRtpSender? video, RTCRtpSender? audio, string peerId, CancellationToken ct)
    {
        await using var _ = pc;
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

    public ValueTask DisposeAsync() => _hub.DisposeAsync();
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
