using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Media.BackChannel;
using OspBridge.Media.Formats;
using OspBridge.Media.Sinks;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// An RTSP camera (<c>rtsp://[user:pass@]host[:port]/path</c>): OPTIONS, DESCRIBE (SDP with H.264 and Opus/PCMU/PCMA),
/// SETUP with TCP-interleaved transport (channels 0-1 video, 2-3 audio) or UDP (<c>client_port</c> pairs, see
/// <see cref="RtspUdpTrack"/>), PLAY, keep-alive (GET_PARAMETER when the server lists it, else OPTIONS) every
/// session-timeout/2, TEARDOWN on stop. Basic and Digest (MD5) authentication. Lost connections and missing media
/// (<see cref="MediaSourceOptions.RtspMediaTimeout"/>) reconnect with back-off 1, 2, 4 … 30 s.
/// UDP is chosen by <c>?transport=udp</c> in the URI or <see cref="MediaSourceOptions.RtspUseTcp"/> = false; it falls
/// back to TCP-interleaved (at once, for the rest of the source's life) when a SETUP is answered 461 Unsupported
/// Transport or with a TCP transport, or when no RTP datagram arrives within <see cref="MediaSourceOptions.RtspUdpTimeout"/>
/// of PLAY (a firewall between camera and agent).
/// ONVIF back channel (ONVIF Streaming Specification §5.3): unless the URI says <c>?backchannel=0</c>, every request
/// carries <c>Require: www.onvif.org/ver20/backchannel</c>; a camera that does not know the tag answers the DESCRIBE
/// 551 Option Not Supported (or another error) and is asked again without it, for the rest of the source's life. An
/// <c>a=sendonly</c> audio section (PCMU, PCMA or Opus) in the answer is the back channel: it is SET UP like the other
/// tracks and, while the session plays, <see cref="TalkBackSink"/> sends talk-back to it as RTP over the same session.
/// </summary>
internal sealed class RtspSource : MediaSourceBase
{
    private const int MaxBuffered = 512 * 1024;
    private readonly RtspUri _uri;
    private readonly MediaSourceOptions _options;
    private readonly ILogger _logger;
    private readonly RtspBackChannelSink? _backChannelSink;
    private readonly TaskCompletionSource _described = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _requireBackChannel;
    private volatile RtspBackChannel? _backChannel;
    private readonly BackgroundLoop _loop = new();

    public RtspSource(RtspUri uri, MediaSourceOptions options)
    {
        _uri = uri;
        Transport = uri.Transport ?? (options.RtspUseTcp ? RtspTransport.Tcp : RtspTransport.Udp);
        _options = options;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("OspBridge.Media.Rtsp");
        _requireBackChannel = uri.BackChannel;
        _backChannelSink = uri.BackChannel ? new RtspBackChannelSink(this) : null;
    }

    /// <summary>The camera's URI (no credentials).</summary>
    internal RtspUri Uri => _uri;

    /// <summary>The ONVIF back channel as a talk-back sink (null with <c>?backchannel=0</c>); see <see cref="RtspBackChannelSink"/>.</summary>
    public override IAudioSink? TalkBackSink => _backChannelSink;

    /// <summary>The back channel's codec in the last DESCRIBE answer, or null when it offered none.</summary>
    internal MediaCodec? BackChannelOffered { get; private set; }

    /// <summary>The back channel of the session playing now, or null.</summary>
    internal RtspBackChannel? BackChannel => _backChannel;

    /// <summary>True while DESCRIBE requests carry the back-channel <c>Require</c> (false after the camera refused it).</summary>
    internal bool RequiresBackChannel => _requireBackChannel;

    /// <summary>Waits (bounded) until a DESCRIBE was answered; false on timeout.</summary>
    internal async Task<bool> WaitForDescriptionAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _described.Task.WaitAsync(timeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Sessions established (PLAY answered 200).</summary>
    internal int Sessions { get; private set; }

    /// <summary>The transport the next (or current) session uses; UDP turns into TCP on fallback.</summary>
    internal RtspTransport Transport { get; private set; }

    /// <summary>Times UDP was given up for TCP-interleaved (0 or 1).</summary>
    internal int UdpFallbacks { get; private set; }

    /// <summary>Why UDP was given up, when it was.</summary>
    internal string? UdpFallbackReason { get; private set; }

    private readonly RtspUdpCounters _udpCounters = new();

    /// <summary>RTP datagrams received over UDP (all sessions).</summary>
    internal long UdpRtpDatagrams => _udpCounters.RtpDatagrams;

    /// <summary>Datagrams from an address other than the RTSP server's, dropped (all sessions).</summary>
    internal long UdpForeignDatagrams => _udpCounters.ForeignDatagrams;

    /// <summary>RTCP compounds (receiver reports) sent over UDP (all sessions).</summary>
    internal long UdpRtcpSent => _udpCounters.RtcpSent;

    /// <summary>The last DESCRIBE's session description.</summary>
    internal RtspSessionDescription? Description { get; private set; }

    public override Task StartAsync(CancellationToken cancellationToken) => StartOn(_loop, RunAsync);

    public override Task StopAsync(CancellationToken cancellationToken) => StopOnAsync(_loop);

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        while (!cancellationToken.IsCancellationRequested)
        {
            Exception? error;
            var session = new Session(this, Transport, cancellationToken);
            try
            {
                await session.RunAsync().ConfigureAwait(false);
                error = new MediaException(MediaError.ConnectionLost, "the RTSP server closed the connection");
                if (session.Frames > 0)
                    backoff.Reset();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is MediaException or IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                error = ex is MediaException ? ex : new MediaException(MediaError.ConnectionLost, $"RTSP {_uri}: {ex.Message}", ex);
            }
            finally
            {
                session.Dispose();
            }
            if (session.FallbackReason is not null && !cancellationToken.IsCancellationRequested)
            {
                // UDP refused or silent: TCP-interleaved at once (no back-off), and for good
                Transport = RtspTransport.Tcp;
                UdpFallbacks++;
                UdpFallbackReason = session.FallbackReason;
                if (_logger.IsEnabled(LogLevel.Warning))
                    _logger.LogWarning("RTSP {Uri}: UDP transport given up ({Reason}); using TCP-interleaved", _uri, session.FallbackReason);
                SetState(MediaSourceState.Starting);
                continue;
            }
            if (_logger.IsEnabled(LogLevel.Warning))
                _logger.LogWarning("RTSP {Uri}: {Message}", _uri, error.Message);
            SetState(MediaSourceState.Retrying, error);
            try
            {
                await Task.Delay(backoff.Next(), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            SetState(MediaSourceState.Starting);
        }
    }

    private void OnParameterSets(byte[]? sps, byte[]? pps)
    {
        if (sps is null || pps is null || !H264SpsInfo.TryParse(sps, out var info))
            return;
        if (Info.Sps.Span.SequenceEqual(sps) && Info.Pps.Span.SequenceEqual(pps))
            return;
        UpdateInfo(i => i with { Width = info.Width, Height = info.Height, Sps = sps, Pps = pps, ProfileLevelId = info.ProfileLevelId });
    }

    /// <summary>One TCP connection: the request/response exchange, then the interleaved media loop.</summary>
    private sealed class Session(RtspSource owner, RtspTransport transport, CancellationToken stopToken) : IDisposable
    {
        public void Dispose()
        {
            if (owner._backChannel is { } b && ReferenceEquals(b.Send.Target, this))
                owner._backChannel = null;
            _backUdp?.Dispose();
            foreach (var u in _udp)
                u.Dispose();
            _random.Dispose();
            _writeLock.Dispose();
        }

        private readonly List<RtspUdpTrack> _udp = [];
        private readonly RandomNumberGenerator _random = RandomNumberGenerator.Create();
        private long _udpStart;
        private long _udpDatagrams;
        private RtspUdpReceiver? _udpReceiver;
        private IPAddress? _serverAddress;
        private IPAddress? _localAddress;
        private RtspUdpTrack? _backUdp;
        private byte _backChannelRtp;
        private bool _require;

        /// <summary>Set when this UDP session gave up: the reason (461, a TCP answer, or silence).</summary>
        public string? FallbackReason { get; private set; }

        private readonly byte[] _buffer = new byte[MaxBuffered];
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly RtpTrackReceiver?[] _tracks = new RtpTrackReceiver?[256];
        private int _start;
        private int _length; // bytes held from _start
        private int _cseq;
        private Stream? _stream;
        private RtspAuthenticator? _auth;
        private string? _sessionId;
        private long _lastMedia;

        public long Frames { get; private set; }

        public async Task RunAsync()
        {
            var o = owner._options;
            using var tcp = new TcpClient();
            using (var connectCts = CancellationTokenSource.CreateLinkedTokenSource(stopToken))
            {
                connectCts.CancelAfter(o.RtspRequestTimeout);
                await tcp.ConnectAsync(owner._uri.Host, owner._uri.Port, connectCts.Token).ConfigureAwait(false);
            }
            tcp.NoDelay = true;
            _serverAddress = Unmapped(((IPEndPoint)tcp.Client.RemoteEndPoint!).Address);
            _localAddress = Unmapped(((IPEndPoint)tcp.Client.LocalEndPoint!).Address);
            using var stream = tcp.GetStream();
            _stream = stream;
            if (owner._uri.UserName is not null)
                _auth = new RtspAuthenticator(owner._uri.UserName, owner._uri.Password ?? "");
            string uri = owner._uri.RequestUri;

            var options = await RequestAsync("OPTIONS", uri, null).ConfigureAwait(false);
            string publicMethods = options.Headers.Get("Public") ?? "";
            bool getParameter = publicMethods.Contains("GET_PARAMETER", StringComparison.OrdinalIgnoreCase);

            _require = owner._requireBackChannel;
            var describe = await RequestAsync("DESCRIBE", uri, [new("Accept", "application/sdp")], accept: s => _require && s is >= 400 and not 401).ConfigureAwait(false);
            if (describe.StatusCode >= 400)
            {
                // The camera does not know the ONVIF tag (551 Option Not Supported, RFC 2326 §12.32) or chokes on it:
                // ask again without it, and never again for this source.
                if (owner._logger.IsEnabled(LogLevel.Information))
                    owner._logger.LogInformation("RTSP {Uri}: DESCRIBE with the ONVIF back-channel Require answered {Status} {Reason}; asking without it", owner._uri, describe.StatusCode, describe.Reason);
                owner._requireBackChannel = false;
                _require = false;
                describe = await RequestAsync("DESCRIBE", uri, [new("Accept", "application/sdp")]).ConfigureAwait(false);
            }
            string baseUri = describe.Headers.Get("Content-Base") ?? describe.Headers.Get("Content-Location") ?? uri;
            var sdp = RtspSessionDescription.Parse(describe.Body.Span);
            owner.Description = sdp;
            if (sdp.Control is not null && sdp.Control != "*")
                baseUri = RtspMediaDescription.Resolve(sdp.Control, baseUri);
            var video = sdp.Media.FirstOrDefault(m => m.Codec == MediaCodec.H264 && m.Direction != "sendonly");
            var audio = sdp.Media.FirstOrDefault(m => m.Codec is MediaCodec.Opus or MediaCodec.Pcmu or MediaCodec.Pcma && m.Direction != "sendonly");
            var back = _require ? sdp.Media.FirstOrDefault(RtspBackChannel.IsBackChannel) : null;
            owner.BackChannelOffered = back?.Codec;
            owner._described.TrySetResult();
            if (video is null && audio is null)
                throw new MediaException(MediaError.NoUsableMedia, "the RTSP session has no H.264 video and no Opus/PCMU/PCMA audio");
            owner.UpdateInfo(i => i with
            {
                VideoCodec = video?.Codec,
                AudioCodec = audio?.Codec,
                AudioChannels = audio is null ? 0 : audio.Channels,
            });
            if (video is not null)
                owner.OnParameterSets(video.Sps, video.Pps);

            int channel = 0;
            int timeoutSeconds = 60;
            foreach (var m in new[] { video, audio, back })
            {
                if (m is null)
                    continue;
                RtspUdpTrack? udp = null;
                if (transport == RtspTransport.Udp)
                {
                    udp = RtspUdpTrack.Open(_localAddress!, _serverAddress!, m, _random);
                    if (m == back)
                        _backUdp = udp;
                    else
                        _udp.Add(udp);
                }
                var headers = new List<KeyValuePair<string, string>>
                {
                    new("Transport", udp?.TransportHeader ?? string.Create(CultureInfo.InvariantCulture, $"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}")),
                };
                var setup = await RequestAsync("SETUP", m.ResolveControl(baseUri), headers, acceptUnsupportedTransport: udp is not null).ConfigureAwait(false);
                if (udp is not null && setup.StatusCode == 461)
                {
                    FallbackReason = "SETUP answered 461 Unsupported Transport";
                    throw new MediaException(MediaError.RtspStatus, $"RTSP SETUP: 461 {setup.Reason}");
                }
                string? session = setup.Headers.Get("Session");
                if (session is not null)
                {
                    var parts = session.Split(';', StringSplitOptions.TrimEntries);
                    _sessionId = parts[0];
                    foreach (string p in parts.Skip(1))
                    {
                        if (p.StartsWith("timeout=", StringComparison.OrdinalIgnoreCase) &&
                            int.TryParse(p["timeout=".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int t) && t > 0)
                            timeoutSeconds = Math.Min(t, 3600);
                    }
                }
                string? transportAnswer = setup.Headers.Get("Transport");
                if (udp is not null)
                {
                    if (!udp.Configure(transportAnswer))
                    {
                        FallbackReason = "SETUP answered with a TCP transport";
                        throw new MediaException(MediaError.RtspStatus, $"RTSP SETUP: UDP asked, answered '{transportAnswer}'");
                    }
                    continue;
                }
                int rtpChannel = channel;
                if (transportAnswer is not null)
                {
                    int at = transportAnswer.IndexOf("interleaved=", StringComparison.OrdinalIgnoreCase);
                    if (at >= 0)
                    {
                        string range = transportAnswer[(at + "interleaved=".Length)..].Split(';')[0];
                        if (int.TryParse(range.Split('-')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int c) && c < 255)
                            rtpChannel = c;
                    }
                }
                if (m == back)
                    _backChannelRtp = (byte)rtpChannel;
                else
                    _tracks[rtpChannel] = new RtpTrackReceiver(m.Codec!.Value, m.ClockRate, m.PayloadType, m.Sps, m.Pps);
                channel += 2;
            }

            // Range is optional in PLAY (RFC 2326 §10.5). With a back channel it is left out: GStreamer's ONVIF media (a
            // session of its own per back-channel client) cannot seek its live pipeline, answers "npt=0.000-" with 503 and
            // stays broken for the session; a live camera plays from "now" either way.
            await RequestAsync("PLAY", baseUri, back is null ? [new("Range", "npt=0.000-")] : null).ConfigureAwait(false);
            owner.Sessions++;
            if (back is not null)
                owner._backChannel = NewBackChannel(back, transport);
            if (owner._logger.IsEnabled(LogLevel.Information))
                owner._logger.LogInformation("RTSP {Uri}: playing over {Transport} (session {Session}, timeout {Timeout} s)", owner._uri, transport == RtspTransport.Udp ? "UDP" : "TCP", _sessionId, timeoutSeconds);
            _lastMedia = o.TimeProvider.GetTimestamp();
            _udpStart = _lastMedia;

            using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(stopToken);
            var keepAlive = KeepAliveAsync(getParameter ? "GET_PARAMETER" : "OPTIONS", baseUri, TimeSpan.FromSeconds(timeoutSeconds / 2.0), sessionCts);
            var udpLoops = new List<Task>();
            if (_udp.Count > 0)
            {
                foreach (var u in _udp)
                    SendFirstReport(u);
                // One serialized loop for the session's UDP streams: datagrams posted by the receive tasks, a timer at
                // the streams' earliest deadline (reorder release, receiver reports), frames delivered on the loop.
                var receiver = new RtspUdpReceiver(_udp, OnUdpFrame, owner._udpCounters.CountRtcpSent, o.TimeProvider, owner._logger,
                    string.Create(CultureInfo.InvariantCulture, $"rtsp-udp {owner._uri}"));
                _udpReceiver = receiver;
                receiver.Start();
                udpLoops.Add(WatchUdpReceiverAsync(receiver, sessionCts));
                foreach (var u in _udp)
                {
                    udpLoops.Add(ReceiveLoopAsync(receiver, u, rtcp: false, sessionCts.Token));
                    udpLoops.Add(ReceiveLoopAsync(receiver, u, rtcp: true, sessionCts.Token));
                }
            }
            try
            {
                await MediaLoopAsync(sessionCts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stopToken.IsCancellationRequested)
            {
                throw new MediaException(MediaError.ConnectionLost, "no media from the RTSP server");
            }
            finally
            {
                owner._backChannel = null;
                await sessionCts.CancelAsync().ConfigureAwait(false);
                try
                {
                    await keepAlive.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
                {
                }
                foreach (var loop in udpLoops)
                {
                    try
                    {
                        await loop.ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                    }
                }
                if (_udpReceiver is { } r)
                    await r.DisposeAsync().ConfigureAwait(false); // the receive tasks ended: nothing posts any more
                if (stopToken.IsCancellationRequested || FallbackReason is not null)
                    await TeardownAsync(baseUri).ConfigureAwait(false);
            }
        }

        /// <summary>The playing back channel: RTP on the section's interleaved channel, or from its client_port to its server_port.</summary>
        private RtspBackChannel NewBackChannel(RtspMediaDescription back, RtspTransport t)
        {
            if (owner._logger.IsEnabled(LogLevel.Information))
                owner._logger.LogInformation("RTSP {Uri}: ONVIF back channel {Codec}/{Clock} (payload type {Pt}) over {Transport}", owner._uri, back.EncodingName, back.ClockRate, back.PayloadType, t == RtspTransport.Udp ? "UDP" : "TCP");
            return new RtspBackChannel(back.Codec!.Value, (byte)back.PayloadType, back.ClockRate, t, t == RtspTransport.Udp ? SendBackUdpAsync : SendBackTcpAsync);
        }

        private ValueTask SendBackTcpAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
        {
            // the sink reserved the 4 header octets; the buffer is ours until the write completes
            var frame = System.Runtime.InteropServices.MemoryMarshal.AsMemory(packet).Span;
            frame[0] = RtspInterleavedFrame.Marker;
            frame[1] = _backChannelRtp;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(frame[2..], (ushort)(packet.Length - RtspInterleavedFrame.HeaderLength));
            return new ValueTask(WriteAsync(packet, cancellationToken));
        }

        private async ValueTask SendBackUdpAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
        {
            var u = _backUdp!;
            if (u.ServerRtp is { } to)
                await u.RtpSocket.SendToAsync(packet, SocketFlags.None, to, cancellationToken).ConfigureAwait(false);
        }

        private async Task TeardownAsync(string baseUri)
        {
            try
            {
                var request = NewRequest("TEARDOWN", baseUri, null);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await WriteAsync(request.ToBytes(), cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
        }

        private async Task KeepAliveAsync(string method, string uri, TimeSpan interval, CancellationTokenSource session)
        {
            var time = owner._options.TimeProvider;
            var tick = TimeSpan.FromMilliseconds(Math.Min(1000, interval.TotalMilliseconds));
            long lastKeepAlive = time.GetTimestamp();
            while (!session.IsCancellationRequested)
            {
                await Task.Delay(tick, time, session.Token).ConfigureAwait(false);
                if (_udp.Count > 0 && Interlocked.Read(ref _udpDatagrams) == 0 && time.GetElapsedTime(_udpStart) > owner._options.RtspUdpTimeout)
                {
                    FallbackReason = string.Create(CultureInfo.InvariantCulture, $"no RTP datagram within {owner._options.RtspUdpTimeout.TotalSeconds:0.#} s of PLAY");
                    await session.CancelAsync().ConfigureAwait(false);
                    return;
                }
                if (time.GetElapsedTime(Volatile.Read(ref _lastMedia)) > owner._options.RtspMediaTimeout)
                {
                    await session.CancelAsync().ConfigureAwait(false);
                    return;
                }
                if (time.GetElapsedTime(lastKeepAlive) >= interval)
                {
                    lastKeepAlive = time.GetTimestamp();
                    await WriteAsync(NewRequest(method, uri, null).ToBytes(), session.Token).ConfigureAwait(false);
                }
            }
        }

        private async Task MediaLoopAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                while (TryDispatchOne(out bool needMore) && !needMore)
                {
                }
                await FillAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Handles one message at the buffer start. needMore: wait for bytes.</summary>
        private bool TryDispatchOne(out bool needMore)
        {
            needMore = false;
            if (_length == 0)
            {
                needMore = true;
                return false;
            }
            var data = _buffer.AsSpan(_start, _length);
            if (data[0] == RtspInterleavedFrame.Marker)
            {
                var status = RtspInterleavedFrame.TryRead(data, out byte ch, out var payload, out int consumed);
                if (status == RtspReadStatus.NeedMoreData)
                {
                    needMore = true;
                    return false;
                }
                var track = _tracks[ch];
                if (track is not null)
                {
                    Volatile.Write(ref _lastMedia, owner._options.TimeProvider.GetTimestamp());
                    track.OnPacket(payload, Emit);
                    if (track.Sps is not null)
                        owner.OnParameterSets(track.Sps, track.Pps);
                }
                Consume(consumed);
                return true;
            }
            if (data.StartsWith("RTSP/"u8))
            {
                var status = RtspResponse.TryRead(data, out _, out int consumed);
                if (status == RtspReadStatus.NeedMoreData)
                {
                    needMore = true;
                    return false;
                }
                if (status == RtspReadStatus.Invalid)
                    throw new MediaException(MediaError.MalformedInput, "malformed RTSP response");
                Consume(consumed); // a keep-alive answer
                return true;
            }
            if (char.IsAsciiLetterUpper((char)data[0]))
            {
                var status = RtspRequest.TryRead(data, out var request, out int consumed);
                if (status == RtspReadStatus.NeedMoreData)
                {
                    needMore = true;
                    return false;
                }
                if (status == RtspReadStatus.Invalid)
                    throw new MediaException(MediaError.MalformedInput, "malformed RTSP request from the server");
                Consume(consumed);
                // A request from the server (GET_PARAMETER/OPTIONS as its own keep-alive): answer 200 in order.
                var answer = new RtspResponse(200, "OK");
                answer.Headers.Add("CSeq", request!.Headers.Get("CSeq") ?? "0");
                _ = WriteAsync(answer.ToBytes(), stopToken);
                return true;
            }
            // Resynchronize: skip to the next '$' or 'R'.
            int next = data[1..].IndexOfAny((byte)'$', (byte)'R');
            Consume(next < 0 ? _length : next + 1);
            return true;
        }

        /// <summary>TcpClient is dual-mode: an IPv4 peer shows as ::ffff:a.b.c.d; the UDP sockets use plain IPv4.</summary>
        private static IPAddress Unmapped(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

        /// <summary>An RR with no report blocks (+ SDES) to the server's RTCP port right after PLAY: opens a NAT/firewall
        /// mapping for the camera's packets, as other clients do.</summary>
        private void SendFirstReport(RtspUdpTrack u)
        {
            if (u.ServerRtcp is null)
                return;
            Span<byte> packet = stackalloc byte[64];
            if (!WebRtc.Rtp.Rtcp.ReceiverReport.TryWrite(packet, u.Stream.LocalSsrc, [], out int rr) ||
                !WebRtc.Rtp.Rtcp.SourceDescription.TryWriteCName(packet[rr..], u.Stream.LocalSsrc, "ospbridge"u8, out int sdes))
                return;
            SendRtcp(u, packet[..(rr + sdes)]);
        }

        private void SendRtcp(RtspUdpTrack u, ReadOnlySpan<byte> packet)
        {
            if (u.TrySendRtcp(packet))
                owner._udpCounters.CountRtcpSent();
        }

        /// <summary>Receives on one socket of a track and posts the server's datagrams to the session's UDP loop.</summary>
        private async Task ReceiveLoopAsync(RtspUdpReceiver receiver, RtspUdpTrack u, bool rtcp, CancellationToken cancellationToken)
        {
            var socket = rtcp ? u.RtcpSocket : u.RtpSocket;
            byte[] buffer = new byte[RtspUdpTrack.DatagramSize];
            var from = new SocketAddress(socket.AddressFamily);
            while (!cancellationToken.IsCancellationRequested)
            {
                int n;
                try
                {
                    n = await socket.ReceiveFromAsync(buffer, SocketFlags.None, from, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
                {
                    continue; // ICMP unreachable for an RTCP we sent; an oversized datagram
                }
                if (!u.IsFromServer(from))
                {
                    u.Counters.CountForeign();
                    owner._udpCounters.CountForeign();
                    continue;
                }
                if (!rtcp)
                {
                    u.Counters.CountRtp();
                    owner._udpCounters.CountRtp();
                    Interlocked.Increment(ref _udpDatagrams);
                    Volatile.Write(ref _lastMedia, owner._options.TimeProvider.GetTimestamp());
                }
                receiver.Post(u, rtcp, buffer.AsSpan(0, n)); // a full inbox drops (and counts) it, as a full socket buffer would
            }
        }

        /// <summary>A frame from a UDP stream (on the session's UDP loop): into the track's receiver, out to the hub.</summary>
        private void OnUdpFrame(RtspUdpFrame f)
        {
            f.Track.Receiver.OnFrame(f.Frame, Emit);
            if (f.Track.Receiver.Sps is not null)
                owner.OnParameterSets(f.Track.Receiver.Sps, f.Track.Receiver.Pps);
        }

        /// <summary>A failed UDP loop (a stream or the frame path threw) ends the session, as lost media does; it reconnects.</summary>
        private static async Task WatchUdpReceiverAsync(RtspUdpReceiver receiver, CancellationTokenSource session)
        {
            try
            {
                await receiver.Completion.WaitAsync(session.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (session.IsCancellationRequested)
            {
                return;
            }
            catch (Exception) when (receiver.Completion.IsFaulted)
            {
                // the loop logged it
            }
            if (!session.IsCancellationRequested)
                await session.CancelAsync().ConfigureAwait(false);
        }

        private void Emit(EncodedFrame frame)
        {
            Frames++;
            owner.Deliver(frame);
        }

        private async Task<RtspResponse> RequestAsync(string method, string uri, List<KeyValuePair<string, string>>? headers, bool acceptUnsupportedTransport = false, Func<int, bool>? accept = null)
        {
            for (int attempt = 0; ; attempt++)
            {
                var request = NewRequest(method, uri, headers);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopToken);
                cts.CancelAfter(owner._options.RtspRequestTimeout);
                await WriteAsync(request.ToBytes(), cts.Token).ConfigureAwait(false);
                int cseq = _cseq;
                var response = await ReadResponseAsync(cseq, cts.Token).ConfigureAwait(false);
                if (response.StatusCode == 401 && attempt == 0 && _auth is not null && _auth.TrySetChallenge(response.Headers.GetAll("WWW-Authenticate")))
                    continue;
                if (accept is not null && accept(response.StatusCode))
                    return response;
                if (response.StatusCode == 401)
                    throw new MediaException(MediaError.Unauthorized, $"RTSP {method}: 401 {response.Reason}");
                if (response.StatusCode == 461 && acceptUnsupportedTransport)
                    return response;
                if (response.StatusCode is < 200 or > 299)
                    throw new MediaException(MediaError.RtspStatus, $"RTSP {method}: {response.StatusCode} {response.Reason}");
                return response;
            }
        }

        private RtspRequest NewRequest(string method, string uri, List<KeyValuePair<string, string>>? headers)
        {
            var request = new RtspRequest(method, uri);
            request.Headers.Add("CSeq", (++_cseq).ToString(CultureInfo.InvariantCulture));
            request.Headers.Add("User-Agent", "OspBridge");
            if (_sessionId is not null)
                request.Headers.Add("Session", _sessionId);
            if (_require)
                request.Headers.Add("Require", RtspBackChannel.RequireTag);
            string? authorization = _auth?.GetAuthorization(method, uri);
            if (authorization is not null)
                request.Headers.Add("Authorization", authorization);
            foreach (var kv in headers ?? [])
                request.Headers.Add(kv.Key, kv.Value);
            return request;
        }

        private async Task<RtspResponse> ReadResponseAsync(int cseq, CancellationToken cancellationToken)
        {
            while (true)
            {
                var data = _buffer.AsSpan(_start, _length);
                if (_length > 0 && data.StartsWith("RTSP/"u8))
                {
                    var status = RtspResponse.TryRead(data, out var response, out int consumed);
                    if (status == RtspReadStatus.Invalid)
                        throw new MediaException(MediaError.MalformedInput, "malformed RTSP response");
                    if (status == RtspReadStatus.Complete)
                    {
                        Consume(consumed);
                        if (response!.Headers.CSeq == cseq || response.Headers.CSeq < 0)
                            return response;
                        continue;
                    }
                }
                else if (_length > 0 && TryDispatchOne(out bool needMore) && !needMore)
                {
                    continue;
                }
                await FillAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _length).CopyTo(_buffer);
                _start = 0;
            }
            if (_length == _buffer.Length)
                throw new MediaException(MediaError.LimitExceeded, "RTSP message larger than the receive buffer");
            int n = await _stream!.ReadAsync(_buffer.AsMemory(_length), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new MediaException(MediaError.ConnectionLost, "the RTSP server closed the connection");
            _length += n;
        }

        private void Consume(int count)
        {
            _start += count;
            _length -= count;
            if (_length == 0)
                _start = 0;
        }

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _stream!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
        }
    }
}
