using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Signaling;
using OspBridge.Net.Channels;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Signaling;
using OspBridge.PeerFetch;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Device;

/// <summary>
/// The hook for media on the device side: before a WebRTC offer received over LAN signaling is answered, the
/// provider may add tracks to the peer connection for the offer's media sections (a camera, a speaker for
/// talk-back). Without a provider the device answers data channels only (media sections are rejected by the
/// answer as the peer connection has nothing to send or receive).
/// </summary>
internal interface IDeviceMediaProvider
{
    /// <summary>Called once per offer, after the offer became the remote description and before the answer is made. <paramref name="peerId"/> is the trusted peer (the bridge or a controller).</summary>
    ValueTask AttachAsync(RTCPeerConnection peerConnection, string peerId, LanSignalingOffer offer, CancellationToken cancellationToken);
}

/// <summary>Settings of device-side WebRTC answering.</summary>
internal sealed class DeviceWebRtcOptions
{
    /// <summary>The peer connections' configuration (interfaces to gather on, mDNS name resolution).</summary>
    public RTCConfiguration Configuration { get; init; } = new() { ObfuscateHostCandidates = false };

    /// <summary>Serves PeerFetch on <c>http-proxy</c> channels and on channels whose sub-protocol is <c>peerfetch/2</c> (null: none).</summary>
    public PeerFetchDevice? Http { get; init; }

    /// <summary>Adds media to answered peer connections (null: data channels only).</summary>
    public IDeviceMediaProvider? Media { get; init; }

    /// <summary>Most peer connections per OSP session at once (more offers are rejected).</summary>
    public int MaxPeerConnections { get; init; } = 8;

    /// <summary>A copy of these options with <paramref name="media"/> attached and room for at least <paramref name="maxPeerConnections"/> peer connections per session.</summary>
    public DeviceWebRtcOptions WithMedia(IDeviceMediaProvider media, int maxPeerConnections) => new()
    {
        Configuration = Configuration,
        Http = Http,
        Media = media,
        MaxPeerConnections = Math.Max(MaxPeerConnections, maxPeerConnections),
        GatherTimeout = GatherTimeout,
        ConcurrentAnswers = ConcurrentAnswers,
        MaxPendingOffers = Math.Max(MaxPendingOffers, maxPeerConnections),
    };

    /// <summary>How long ICE gathering for one answer may take.</summary>
    public TimeSpan GatherTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Offers answered at once (each builds a peer connection, binds sockets, gathers); more wait their turn.</summary>
    public int ConcurrentAnswers { get; init; } = 4;

    /// <summary>Offers queued per session before more are refused with <c>transient-error</c> (a bridge sends up to 64 WHEP sessions' offers at once).</summary>
    public int MaxPendingOffers { get; init; } = 128;
}

/// <summary>
/// Device-side WebRTC answering over LAN signaling: the agent takes WebRTC offers on an authenticated OSP session
/// (from the bridge, on behalf of a browser, or from any trusted controller), answers each with a new
/// <see cref="RTCPeerConnection"/> and serves PeerFetch (v1 or v2, chosen from the first message) on its
/// <c>http-proxy</c> data channels and v2 on <c>peerfetch/2</c> ones; other channels are closed. Everything ends
/// with the OSP session.
/// </summary>
internal sealed class DeviceWebRtc : IAsyncDisposable
{
    private readonly string _peerId;
    private readonly DeviceWebRtcOptions _options;
    private readonly ILogger _logger;
    private readonly LanSignalingSession _signaling;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<RTCPeerConnection> _peers = [];
    private readonly Dictionary<ulong, RTCPeerConnection> _bySession = [];
    private readonly IDisposable[] _sessionMessages;
    private readonly Task _serving;
    private int _slots;

    private DeviceWebRtc(OspConnection connection, string peerId, DeviceWebRtcOptions options, ILogger logger)
    {
        _peerId = peerId;
        _options = options;
        _logger = logger;
        _signaling = new LanSignalingSession(connection, new LanSignalingOptions { MaxPendingOffers = Math.Max(1, options.MaxPendingOffers) }, logger);
        // Trickled candidates and the end of a signaling session (the bridge's WHEP/WHIP PATCH and DELETE) by session id.
        _sessionMessages = [connection.Subscribe<LanSignalingCandidate>(OnRemoteCandidate), connection.Subscribe<LanSignalingClose>(OnRemoteClose),
            connection.Subscribe<LanSignalingIceRestart>(OnIceRestart)];
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>Starts answering the offers of <paramref name="connection"/> (authenticated; <paramref name="peerId"/> is who it is).</summary>
    public static DeviceWebRtc Start(OspConnection connection, string peerId, DeviceWebRtcOptions options, ILogger logger) =>
        new(connection, peerId, options, logger);

    /// <summary>
    /// The options <c>ospbridge agent</c> uses: candidates gathered on its <c>--interface</c>s (plain IPs), browsers'
    /// <c>.local</c> candidates resolved with its mDNS service, PeerFetch from <c>--http-origin</c>.
    /// </summary>
    public static DeviceWebRtcOptions AgentOptions(IReadOnlyList<string>? interfaces, Net.Mdns.MdnsService mdns, PeerFetchDevice? http, ILogger logger) => new()
    {
        Configuration = new RTCConfiguration
        {
            Interfaces = interfaces is { Count: > 0 } ? interfaces : null,
            MdnsHostNames = new OspBridge.WebRtc.Ice.MdnsServiceHostNames(mdns, logger),
            ObfuscateHostCandidates = false,
        },
        Http = http,
    };

    /// <summary>Peer connections alive now.</summary>
    public int PeerCount
    {
        get { lock (_peers) return _peers.Count; }
    }

    /// <summary>
    /// Answers the session's offers, up to <see cref="DeviceWebRtcOptions.ConcurrentAnswers"/> at once (50 WHEP viewers
    /// posting together are not answered one gathering after the other); a failed answer rejects that offer
    /// (<see cref="LanSignalingSession.ServeAsync(Func{LanSignalingOffer, CancellationToken, Task{string}}, int, CancellationToken)"/>).
    /// </summary>
    private async Task ServeAsync()
    {
        try
        {
            await _signaling.ServeAsync(AnswerAsync, Math.Max(1, _options.ConcurrentAnswers), _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or Osp.OspException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("webrtc answering for {Peer} ended: {Error}", _peerId, ex.Message);
        }
    }

    private async Task<string> AnswerAsync(LanSignalingOffer offer, CancellationToken token)
    {
        var ct = _stop.Token;
        if (Interlocked.Increment(ref _slots) > _options.MaxPeerConnections)
        {
            Interlocked.Decrement(ref _slots);
            throw new InvalidOperationException($"this device keeps at most {_options.MaxPeerConnections} WebRTC peer connections per session");
        }
        var pc = new RTCPeerConnection(_options.Configuration, new RTCPeerConnectionOptions { Logger = _logger });
        try
        {
            pc.OnDataChannel += channel => _ = ServeChannelAsync(channel, ct);
            var media = _options.Media;
            string answer = await LanSignaling.AnswerAsync(pc, offer.Sdp, _options.GatherTimeout,
                media is null ? null : t => media.AttachAsync(pc, _peerId, offer, t), token).ConfigureAwait(false);
            ulong sessionId = offer.SessionId;
            lock (_peers)
            {
                _peers.Add(pc);
                _bySession[sessionId] = pc;
            }
            pc.OnConnectionStateChange += state =>
            {
                if (state is not (RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed)) return;
                bool removed, tell;
                lock (_peers)
                {
                    removed = _peers.Remove(pc);
                    tell = _bySession.TryGetValue(sessionId, out var mine) && mine == pc && _bySession.Remove(sessionId);
                }
                if (!removed) return;
                Interlocked.Decrement(ref _slots);
                if (tell) _ = TellClosedAsync(sessionId, state == RTCPeerConnectionState.Failed);
                _ = pc.DisposeAsync().AsTask();
            };
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("answered a WebRTC offer from {Peer} ({Label})", _peerId, offer.Label);
            return answer;
        }
        catch
        {
            Interlocked.Decrement(ref _slots);
            await pc.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The offerer learns that the peer connection of its signaling session ended (the bridge ends its WHEP/WHIP session).</summary>
    private async Task TellClosedAsync(ulong sessionId, bool failed)
    {
        try
        {
            await _signaling.CloseAsync(sessionId, failed ? LanSignalingCloseReason.Failed : LanSignalingCloseReason.Normal,
                failed ? "peer connection failed" : "peer connection closed", _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private void OnRemoteCandidate(LanSignalingCandidate message)
    {
        RTCPeerConnection? pc;
        lock (_peers) pc = _bySession.GetValueOrDefault(message.SessionId);
        if (pc is null || message.Candidate is { Length: > 1024 }) return;
        _ = AddCandidateAsync(pc, message.Candidate ?? "");
    }

    private async Task AddCandidateAsync(RTCPeerConnection pc, string candidate)
    {
        try
        {
            await pc.AddIceCandidateAsync(new RTCIceCandidateInit(candidate), _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebRtcException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>The offerer restarts ICE (a WHEP/WHIP PATCH with new credentials): restart the session's peer connection's ICE and answer with its new fragment.</summary>
    private void OnIceRestart(LanSignalingIceRestart message)
    {
        RTCPeerConnection? pc;
        lock (_peers) pc = _bySession.GetValueOrDefault(message.SessionId);
        _ = RestartIceAsync(pc, message);
    }

    private async Task RestartIceAsync(RTCPeerConnection? pc, LanSignalingIceRestart message)
    {
        LanSignalingIceRestartResponse response;
        try
        {
            if (pc is null) throw new WebRtcException(WebRtcError.InvalidState, $"no peer connection for signaling session {message.SessionId}");
            string fragment = await pc.RestartIceAsync(message.IceUfrag, message.IcePwd, _stop.Token).ConfigureAwait(false);
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Peer} restarted ICE of signaling session {Session}", _peerId, message.SessionId);
            response = new LanSignalingIceRestartResponse { RequestId = message.RequestId, Result = Result.Success, Sdpfrag = fragment };
        }
        catch (Exception ex) when (ex is WebRtcException or ArgumentException or ObjectDisposedException or InvalidOperationException)
        {
            response = new LanSignalingIceRestartResponse { RequestId = message.RequestId, Result = Result.PermanentError, ErrorMessage = ex.Message };
        }
        catch (OperationCanceledException)
        {
            return;
        }
        try
        {
            await _signaling.Connection.SendAsync(response, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private void OnRemoteClose(LanSignalingClose message)
    {
        RTCPeerConnection? pc;
        lock (_peers)
        {
            pc = _bySession.GetValueOrDefault(message.SessionId);
            _bySession.Remove(message.SessionId);
        }
        if (pc is null) return;
        if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Peer} ended signaling session {Session}: closing its peer connection", _peerId, message.SessionId);
        _ = pc.CloseAsync();
    }

    private async Task ServeChannelAsync(RTCDataChannel channel, CancellationToken ct)
    {
        bool peerFetch = channel.Label == Server.DeviceLink.HttpLabel || ((IMessageChannel)channel).Protocol == PeerFetchHandler.ChannelProtocol;
        try
        {
            if (peerFetch && _options.Http is { } http)
            {
                await http.ServeAsync(channel, _peerId, ct).ConfigureAwait(false);
            }
            else
            {
                if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("closing WebRTC data channel '{Label}' from {Peer}: no such service", channel.Label, _peerId);
                await channel.CloseAsync(ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebRtcException or IOException or InvalidOperationException or PeerFetchException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("WebRTC data channel '{Label}' from {Peer} ended: {Error}", channel.Label, _peerId, ex.Message);
        }
    }

    /// <summary>Stops answering and closes every peer connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var s in _sessionMessages) s.Dispose();
        _signaling.Dispose();
        try { await _serving.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (TimeoutException) { }
        RTCPeerConnection[] left;
        lock (_peers) { left = [.. _peers]; _peers.Clear(); _bySession.Clear(); }
        foreach (var pc in left) await pc.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
