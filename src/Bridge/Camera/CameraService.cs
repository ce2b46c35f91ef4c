using System.Globalization;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Device;
using OspBridge.Media;
using OspBridge.Media.Hub;
using OspBridge.Media.Sinks;
using OspBridge.Media.Sources;
using OspBridge.Osp.Messages;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Bridge.Camera;

/// <summary>
/// <c>agent --camera &lt;source&gt; [--talk-sink &lt;file.ogg|exec:cmd&gt;] [--max-viewers n]</c>: the agent serves one
/// camera source to its trusted peers. The agent's device-side WebRTC answering (<see cref="DeviceWebRtc"/>, one LAN
/// signaling session per authenticated connection) hands every offer to this provider. Sections the peer wants to
/// receive get the camera's video/audio senders, fed from one <see cref="MediaHub"/> sink (no transcoding; the hub's
/// GOP cache starts each viewer at a keyframe; PLI/FIR ask the source for a keyframe); audio sections the peer sends
/// are talk-back, played out through a jitter buffer (<see cref="TalkBackPlayout"/>) into the talk-back sink (one
/// session at a time; others are counted only). Offers that only send audio (WHIP) are answered recvonly without
/// starting the camera. When the camera has a talk-back output of its own (<see cref="IMediaSource.TalkBackSink"/>: an
/// RTSP camera's ONVIF back channel) a viewer's talk-back goes there — transcoded to the camera's G.711 — and the
/// talk-back sink is the fallback (no back channel offered, or another talker holds it). Each session's end prints <c>talk-back from &lt;peer&gt;: &lt;n&gt; packets, &lt;s&gt; s audio</c>
/// when it had a talk-back section.
/// WHIP re-publish (docs/bridge.md): an offer labelled <see cref="PublishLabel"/> (the bridge's <c>/whip/{id}</c>) is a
/// publisher: its video and audio become the device's <see cref="PublishedStream"/> (the first publisher's; later ones
/// are talk-back only while it lasts), and offers labelled <see cref="PublishedLabel"/> (<c>/whep/{id}?stream=published</c>)
/// are answered with senders fed from it instead of the camera. When the publisher leaves, those viewers' peer
/// connections are closed.
/// </summary>
internal sealed class CameraService : IDeviceMediaProvider, IAsyncDisposable
{
    /// <summary>Default of <c>--max-viewers</c>.</summary>
    public const int DefaultMaxViewers = 64;

    /// <summary>Largest <c>--max-viewers</c>.</summary>
    public const int MaxViewersLimit = 1024;

    private readonly MediaHub _hub;
    private readonly IAudioSink? _talkSink;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeProvider _time;
    private readonly List<Task> _sessions = [];
    private readonly Action<string> _output;
    private int _viewers;
    private PublishedStream? _published;

    /// <summary>LAN signaling label of a WHIP publisher's offer (the bridge labels its <c>/whip/{id}</c> offers so).</summary>
    public const string PublishLabel = "whip";

    /// <summary>LAN signaling label of an offer that views the published stream instead of the camera (<c>/whep/{id}?stream=published</c>).</summary>
    public const string PublishedLabel = "whep:published";

    public CameraService(string source, IReadOnlyList<string>? interfaces, ILogger log, ILoggerFactory? loggerFactory,
        int maxViewers = DefaultMaxViewers, string? talkSink = null, TimeProvider? time = null, Action<string>? output = null)
        : this(MediaSource.Create(source, new MediaSourceOptions { LoggerFactory = loggerFactory }), log, maxViewers,
            talkSink is null ? null : AudioSink.Create(talkSink, new MediaSourceOptions { LoggerFactory = loggerFactory }), time, output)
    {
        _ = interfaces;
    }

    public CameraService(IMediaSource source, ILogger log, int maxViewers, IAudioSink? talkSink, TimeProvider? time = null, Action<string>? output = null)
    {
        _output = output ?? AgentOutput.WriteLine;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxViewers, 1);
        _hub = new MediaHub(source);
        _log = log;
        MaxViewers = maxViewers;
        _talkSink = talkSink;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Most sessions (peer connections with camera media or talk-back) at once over all peers.</summary>
    public int MaxViewers { get; }

    /// <summary>Sessions now.</summary>
    public int Viewers => Volatile.Read(ref _viewers);

    /// <summary>Bench hook: called after each frame was handed to a viewer's sender (null: nothing; the hot path pays one null check).</summary>
    internal Action<EncodedFrame>? FrameWritten { get; set; }

    /// <summary>The hub (tests and the bench read its counters).</summary>
    internal MediaHub Hub => _hub;

    /// <summary>The stream a WHIP client publishes now (null: none).</summary>
    internal PublishedStream? Published => Volatile.Read(ref _published);

    /// <summary>
    /// <see cref="IDeviceMediaProvider"/>: called by the agent's device-side WebRTC answering after the offer is the
    /// remote description and before the answer is made. Data-only offers (a bridge's PeerFetch channel) are left alone.
    /// </summary>
    public ValueTask AttachAsync(RTCPeerConnection peerConnection, string peerId, LanSignalingOffer offer, CancellationToken cancellationToken) =>
        new(AttachAsync(peerConnection, peerId, offer.Sdp, cancellationToken, offer.Label));

    /// <summary>Like the <see cref="IDeviceMediaProvider"/> form, from the offer's SDP and label; returns what was attached.</summary>
    public async Task<CameraMedia> AttachAsync(RTCPeerConnection peerConnection, string peerId, string offerSdp, CancellationToken cancellationToken, string? label = null)
    {
        CameraMedia media;
        PublishedStream? viewed = null;
        if (label == PublishedLabel)
        {
            // "Not now" is the device's answer, not the bridge's guess: a stream may be published over LAN signaling by any
            // trusted peer, not only through this bridge's WHIP. transient-error → the bridge's WHEP says 409 + Retry-After.
            viewed = Published ?? throw new Osp.OspException(Osp.OspError.Refused, "nothing is published to this device now (publish with WHIP first)",
                applicationErrorCode: (long)Result.TransientError);
            var pinfo = viewed.Info;
            media = await CameraTransceivers.AttachAsync(peerConnection, offerSdp, pinfo.VideoCodec is not null, pinfo.AudioCodec is not null,
                cancellationToken).ConfigureAwait(false);
            if (media.Video is null && media.Audio is null)
                throw new CliException("the offer receives nothing the published stream carries");
        }
        else
        {
            var info = _hub.Source.Info;
            // A source that has not described itself yet (an RTSP camera before its first DESCRIBE: the hub starts the
            // source with its first viewer) may carry both; only a described source can rule video or audio out.
            bool described = info.VideoCodec is not null || info.AudioCodec is not null;
            media = await CameraTransceivers.AttachAsync(peerConnection, offerSdp, !described || info.VideoCodec is not null,
                !described || info.AudioCodec is not null, cancellationToken, receiveVideo: label == PublishLabel).ConfigureAwait(false);
        }
        if (!media.Any)
            return media;
        if (Interlocked.Increment(ref _viewers) > MaxViewers)
        {
            Interlocked.Decrement(ref _viewers);
            throw new CliException($"the camera serves at most {MaxViewers} viewers at once (--max-viewers)");
        }
        bool publisher = label == PublishLabel && (media.PublishedVideo is not null || media.TalkBack.Count > 0);
        var task = Task.Run(() => RunSessionAsync(peerConnection, media, peerId, viewed, publisher, _stop.Token), CancellationToken.None);
        lock (_sessions)
        {
            _sessions.RemoveAll(t => t.IsCompleted);
            _sessions.Add(task);
        }
        return media;
    }

    /// <summary>One peer connection: feeds its senders from a hub sink and plays its talk-back out, until it closes or fails.</summary>
    private async Task RunSessionAsync(RTCPeerConnection pc, CameraMedia media, string peerId, PublishedStream? viewed, bool publisher, CancellationToken ct)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Action<RTCPeerConnectionState> onState = s =>
        {
            if (s is RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed)
            {
                try { ended.Cancel(); }
                catch (ObjectDisposedException) { }
            }
        };
        pc.OnConnectionStateChange += onState;
        PublishedStream? published = null;
        if (publisher)
        {
            var candidate = new PublishedStream(peerId, media.PublishedVideo, media.TalkBack.Count > 0);
            if (Interlocked.CompareExchange(ref _published, candidate, null) is null)
            {
                published = candidate;
                _output($"published stream from {peerId} ({(media.PublishedVideo is null ? "" : "video")}{(media.PublishedVideo is not null && media.TalkBack.Count > 0 ? " + " : "")}{(media.TalkBack.Count > 0 ? "audio" : "")})");
            }
            else
            {
                await candidate.DisposeAsync().ConfigureAwait(false);
                if (_log.IsEnabled(LogLevel.Information)) _log.LogInformation("publisher {Peer}: another stream is published now; not re-published", peerId);
            }
        }
        var talk = media.TalkBack.Count == 0 ? Task.CompletedTask : RunTalkBackAsync(media.TalkBack, peerId, published,
            cameraViewer: viewed is null && (media.Video is not null || media.Audio is not null), ended.Token);
        var pump = published is not null && media.PublishedVideo is { } pv ? published.PumpVideoAsync(pv, ended.Token) : Task.CompletedTask;
        try
        {
            if (media.Video is not null || media.Audio is not null)
                await FeedViewerAsync(media, peerId, viewed?.Hub ?? _hub, ended.Token).ConfigureAwait(false);
            else
                await Task.Delay(Timeout.Infinite, ended.Token).ConfigureAwait(false);
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
            pc.OnConnectionStateChange -= onState;
            Interlocked.Decrement(ref _viewers);
            await ended.CancelAsync().ConfigureAwait(false);
            try { await talk.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            await pump.ConfigureAwait(false);
            if (published is not null)
            {
                // The viewers of the published stream end with it: their sinks close, their sessions close their peer connections.
                Interlocked.CompareExchange(ref _published, null, published);
                long frames = published.FramesPublished;
                await published.DisposeAsync().ConfigureAwait(false);
                _output($"published stream from {peerId} ended ({frames} frames received)");
            }
            if (viewed is not null && !ct.IsCancellationRequested)
            {
                // A viewer of the published stream whose publisher left: close its peer connection (the device tells
                // the offerer with lan-signaling-close, so the bridge's WHEP session ends too).
                try { await pc.CloseAsync(CancellationToken.None).ConfigureAwait(false); }
                catch (Exception ex) when (ex is WebRtcException or ObjectDisposedException or InvalidOperationException) { }
            }
        }
    }

    private async Task FeedViewerAsync(CameraMedia media, string peerId, MediaHub hub, CancellationToken ct)
    {
        var (video, audio) = (media.Video, media.Audio);
        await using var sink = await hub.AddSinkAsync(ct).ConfigureAwait(false);
        Action onKeyframe = sink.RequestKeyframe;
        if (video is not null)
            video.KeyframeRequested += onKeyframe;
        try
        {
            _output($"viewer {peerId} started ({hub.SinkCount} watching{(hub == _hub ? "" : " the published stream")})");
            await foreach (var frame in sink.ReadAllAsync(ct).ConfigureAwait(false))
            {
                var sender = frame.Codec is MediaCodec.H264 or MediaCodec.H265 ? video : audio;
                sender?.WriteFrame(frame);
                FrameWritten?.Invoke(frame);
            }
        }
        finally
        {
            if (video is not null)
                video.KeyframeRequested -= onKeyframe;
            _output($"viewer {peerId} left (video frames sent {video?.FramesSent ?? 0})");
        }
    }

    /// <summary>Plays the talk-back sections out into the sink (the first section; further ones are counted) and prints the session's line.</summary>
    private async Task RunTalkBackAsync(IReadOnlyList<RTCRtpReceiver> receivers, string peerId, PublishedStream? published, bool cameraViewer, CancellationToken ct)
    {
        IAudioSinkSession? stream = null;
        IAudioSink? sink = null;
        // The camera's own back channel (ONVIF) first when this session watches the camera (that starts it; a send-only
        // offer does not, and a publisher's audio is the published stream's), then --talk-sink.
        foreach (var candidate in new[] { cameraViewer && published is null ? _hub.Source.TalkBackSink : null, _talkSink })
        {
            if (candidate is null)
                continue;
            try
            {
                stream = await candidate.TryOpenAsync(2, ct).ConfigureAwait(false);
                if (stream is not null)
                {
                    sink = candidate;
                    break;
                }
                if (candidate == _talkSink && _log.IsEnabled(LogLevel.Information))
                    _log.LogInformation("talk-back from {Peer}: {Sink} is in use by another session; counting only", peerId, _talkSink.Description);
            }
            catch (MediaException ex)
            {
                if (_log.IsEnabled(LogLevel.Warning)) _log.LogWarning("talk-back from {Peer}: {Error}", peerId, ex.Message);
            }
        }
        if (sink is not null && _log.IsEnabled(LogLevel.Information))
            _log.LogInformation("talk-back from {Peer} goes to {Sink}", peerId, sink.Description);
        var playouts = receivers.Select((_, i) => new TalkBackPlayout(i == 0 ? stream : null)).ToArray();
        try
        {
            await Task.WhenAll(receivers.Select((r, i) => PlayOutAsync(r, playouts[i], peerId, i == 0 ? published : null, ct))).ConfigureAwait(false);
        }
        finally
        {
            if (stream is not null)
            {
                try { await stream.DisposeAsync().ConfigureAwait(false); }
                catch (IOException ex) { if (_log.IsEnabled(LogLevel.Warning)) _log.LogWarning("talk-back sink: {Error}", ex.Message); }
            }
            long packets = playouts.Sum(p => p.PacketsReceived);
            double seconds = playouts.Sum(p => p.SamplesReceived) / 48000.0;
            if (stream is not null && _log.IsEnabled(LogLevel.Information))
                _log.LogInformation("talk-back from {Peer} to {Sink}: {Written} packets written, {Concealed} concealed, {Late} late, {Dropped} dropped",
                    peerId, sink!.Description, stream.PacketsWritten, playouts[0].FramesConcealed, playouts[0].FramesLate, stream.PacketsDropped);
            _output(string.Create(CultureInfo.InvariantCulture, $"talk-back from {peerId}: {packets} packets, {seconds:0.0} s audio"));
        }
    }

    private async Task PlayOutAsync(RTCRtpReceiver receiver, TalkBackPlayout playout, string peerId, PublishedStream? published, CancellationToken ct)
    {
        var frames = receiver.Frames;
        long start = _time.GetTimestamp();
        TimeSpan Now() => _time.GetElapsedTime(start);
        try
        {
            while (true)
            {
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (playout.NextDeadline is { } due)
                    wake.CancelAfter(due - Now() is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero);
                try
                {
                    if (!await frames.WaitToReadAsync(wake.Token).ConfigureAwait(false))
                        break;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
                while (frames.TryRead(out var frame))
                {
                    if (playout.PacketsReceived == 0 && _log.IsEnabled(LogLevel.Information))
                        _log.LogInformation("talk-back audio from {Peer} ({Codec})", peerId, frame.Codec);
                    published?.Publish(frame);
                    playout.Push(frame, Now());
                }
                await playout.DrainAsync(Now(), ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException ex)
        {
            if (_log.IsEnabled(LogLevel.Warning)) _log.LogWarning("talk-back from {Peer}: {Error}", peerId, ex.Message);
        }
        // frames that arrived before the end are still written
        while (frames.TryRead(out var rest))
            playout.Push(rest, Now());
        try
        {
            await playout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] sessions;
        lock (_sessions) sessions = [.. _sessions];
        try
        {
            await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        await _hub.DisposeAsync().ConfigureAwait(false);
        if (_talkSink is not null)
            await _talkSink.DisposeAsync().ConfigureAwait(false);
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
