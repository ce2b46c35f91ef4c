using OspBridge.Crypto.Certificates;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc;

/// <summary>
/// The sans-IO core of a data-channel peer connection: JSEP (SDP offer/answer), ICE, DTLS 1.2, SCTP and DCEP stacked
/// into one <see cref="IProtocolCore{TEvent}"/>. Received UDP datagrams are demultiplexed by first byte (RFC 7983):
/// STUN goes to the <see cref="IceAgent"/>, DTLS to the DTLS endpoint <b>only when it arrives over a pair ICE has
/// validated</b> (<see cref="IceAgent.IsValidated"/>; anything else, e.g. a spoofed alert from another address, is
/// dropped and counted in <see cref="DroppedUnvalidated"/>), decrypted records to SCTP. Transmits carry the local base
/// and remote address of the ICE pair as their <see cref="DatagramPath"/>.
/// </summary>
/// <remarks>
/// <para>The driver (<see cref="RTCPeerConnection"/> over a CoreLoop, or a test's VirtualNetwork) supplies local
/// bases with <see cref="AddLocalCandidate"/> and <see cref="CompleteGathering"/> once it has opened its sockets, and
/// resolves remote <c>.local</c> names itself (<see cref="TryAddIceCandidate"/> hands them back).</para>
/// <para>Data-channel events are pulled lazily from the SCTP endpoint in <see cref="TryPollEvent"/>, so a driver that
/// stops draining events exerts back-pressure through the SCTP receive window.</para>
/// <para>Not thread-safe, no clock, no sockets: call everything from one serialized loop with its <c>now</c>.</para>
/// </remarks>
public sealed partial class PeerConnectionCore : IProtocolCore<PeerConnectionEvent>, IDisposable
{
    /// <summary>DTLS record MTU (UDP payload of one handshake datagram).</summary>
    public const int DtlsMtu = 1200;

    /// <summary>
    /// SCTP packet size, libwebrtc's and pion's (1191): one sealed record is 1191 + 37 = 1228 bytes of UDP payload, which
    /// with IPv6 + UDP headers (48) still fits the IPv6 minimum link MTU of 1280. DTLS handshake flights stay at
    /// <see cref="DtlsMtu"/>.
    /// </summary>
    public const int SctpMtu = 1191;

    private const int MaxQueuedEvents = 8192;
    private static readonly RandomNumberGenerator SystemRandom = RandomNumberGenerator.Create();

    private readonly PeerConnectionCoreOptions _options;
    private readonly X509Certificate2 _certificate;
    private readonly IceAgent _ice;
    private readonly Queue<PeerConnectionEvent> _events = new();
    private readonly Queue<byte[]> _finalTransmits = new();
    private readonly byte[] _packet = new byte[SctpMtu + 64];
    // Received DTLS application records (SCTP packets) are copied here, not into a fresh array per record (issue 14:
    // that copy was ≈ 1.1 KB of garbage per received data-channel packet, `webrtc alloc` in docs/benchmarks.md).
    private byte[]? _appRecord;
    private readonly List<IceCandidate> _localCandidates = [];
    private readonly string _sessionId;
    private ulong _sessionVersion = 1;
    private DtlsEndpoint? _dtls;
    private DataChannelEndpoint? _sctp;
    private DtlsState _dtlsState;
    private SessionDescription? _local;
    private SessionDescription? _remote;
    private RTCSdpType? _localType;
    private string? _remoteSetup;
    private bool _weAreDtlsClient;
    private int _remoteSctpPort = 5000;
    private bool _closed;
    private bool _shutdown;
    private bool _hasData = true;

    /// <summary>Creates a core; nothing is sent until both descriptions are set and ICE has local bases.</summary>
    public PeerConnectionCore(PeerConnectionCoreOptions? options = null)
    {
        _options = options ?? new PeerConnectionCoreOptions();
        var random = _options.Random ?? SystemRandom;
        _certificate = _options.Certificate ?? SelfSignedCertificate.Create("WebRTC");
        LocalFingerprint = CertificateFingerprint.ToSdp(_certificate);
        _ice = new IceAgent(_options.Ice with { Lite = _options.IceLite || _options.Ice.Lite, Random = _options.Ice.Random ?? random });
        Span<byte> id = stackalloc byte[8];
        random.GetBytes(id);
        _sessionId = (BitConverter.ToUInt64(id) & long.MaxValue).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Our certificate's fingerprint as in SDP (<c>sha-256 AB:CD:...</c>).</summary>
    public string LocalFingerprint { get; }

    /// <summary>The ICE agent (state, selected pair, credentials); drive it only through this core.</summary>
    public IceAgent Ice => _ice;

    /// <summary>The combined state (RTCPeerConnection.connectionState).</summary>
    public RTCPeerConnectionState ConnectionState { get; private set; }

    /// <summary>The JSEP signaling state.</summary>
    public RTCSignalingState SignalingState { get; private set; }

    /// <summary>The DTLS transport's state (<see cref="DtlsState.New"/> until transports exist).</summary>
    public DtlsState DtlsState => _dtlsState;

    /// <summary>The m-section id in use.</summary>
    public string Mid { get; private set; } = "0";

    /// <summary>The peer's max-message-size (65536 when it did not say; <see cref="long.MaxValue"/> for 0 = unlimited).</summary>
    public long RemoteMaxMessageSize { get; private set; } = 65536;

    /// <summary>True once both descriptions are set and DTLS/SCTP exist: <see cref="OpenChannel"/> may be called.</summary>
    public bool TransportsCreated => _sctp is not null;

    /// <summary>True once both descriptions are set and the DTLS transport exists (with or without SCTP).</summary>
    public bool DtlsCreated => _dtls is not null;

    /// <summary>DTLS datagrams dropped because they did not arrive over a pair ICE has validated.</summary>
    public long DroppedUnvalidated { get; private set; }

    /// <summary>True when the local description is applied.</summary>
    public bool HasLocalDescription => _local is not null;

    /// <summary>The SCTP endpoint, once created (statistics).</summary>
    internal DataChannelEndpoint? DataChannels => _sctp;

    /// <summary>Diagnostics: SCTP congestion window, flight size, queued bytes, retransmissions.</summary>
    public string DebugStats => _sctp is null ? "no sctp" :
        $"cwnd {_sctp.Association.CongestionWindow} flight {_sctp.Association.FlightSize} unsent {_sctp.Association.BufferedAmount} buffered {_sctp.Association.SendBufferUsed} rtx {_sctp.Association.RetransmittedChunks} dropped {_sctp.Association.DroppedPackets} rto {_sctp.Association.Rto.TotalMilliseconds}ms rx {_sctp.Association.ReceiveBufferUsed} {_sctp.Association.DebugState} {_sackPolicy.DebugState} dtls {_dtlsState} ice {_ice.State}";

    // ------------------------------------------------------------------ JSEP

    /// <summary>The local description with every gathered candidate (and end-of-candidates once gathering is complete).</summary>
    public RTCSessionDescription? LocalDescription => _local is null || _localType is null ? null : new(_localType.Value, WithCandidates(_local).ToString());

    /// <summary>The remote description as applied.</summary>
    public RTCSessionDescription? RemoteDescription { get; private set; }

    /// <summary>Creates an offer (actpass; the offerer is the controlling ICE agent).</summary>
    public RTCSessionDescription CreateOffer()
    {
        ThrowIfClosed();
        return new RTCSessionDescription(RTCSdpType.Offer, BuildDescription("actpass", isAnswer: false).ToString());
    }

    /// <summary>Creates an answer to the remote offer (we take <c>active</c>, the DTLS client, unless the offer said active).</summary>
    public RTCSessionDescription CreateAnswer()
    {
        ThrowIfClosed();
        if (RemoteDescription?.Type != RTCSdpType.Offer) throw new WebRtcException(WebRtcError.InvalidState, "CreateAnswer needs a remote offer");
        string setup = _remoteSetup == "active" ? "passive" : "active";
        return new RTCSessionDescription(RTCSdpType.Answer, BuildDescription(setup, isAnswer: true).ToString());
    }

    private SessionDescription BuildDescription(string setup, bool isAnswer)
    {
        var sd = new SessionDescription { Origin = new SdpOrigin("-", _sessionId, _sessionVersion++, "IN", "IP4", "127.0.0.1") };
        void Transport(SdpMediaDescription m)
        {
            m.Attributes.Add(new SdpAttribute("ice-ufrag", _ice.LocalCredentials.Ufrag));
            m.Attributes.Add(new SdpAttribute("ice-pwd", _ice.LocalCredentials.Password));
            m.Attributes.Add(new SdpAttribute("ice-options", "trickle"));
            m.Attributes.Add(new SdpAttribute("fingerprint", LocalFingerprint));
            m.Attributes.Add(new SdpAttribute("setup", setup));
        }
        var lines = new List<(int Line, SdpMediaDescription Section)>();
        // a first offer numbers its m-sections in order: transceivers 0..n-1, then the data section
        bool firstOffer = !isAnswer && !_dataOffered && _remote is null;
        if (firstOffer) _dataOffered = true;
        AddMediaSections(sd, isAnswer, lines, Transport);
        if (!isAnswer)
        {
            _dataOffered = true;
            if (firstOffer || _sections.Any(x => x.Mid == Mid)) Mid = NextFreeMid();
            lines.Add((int.MaxValue, DataSection(Mid, Transport)));
        }
        else if (_remote is not null)
        {
            var bundle = BundleMids(_remote);
            var transport = TransportSection(_remote);
            for (int i = 0; i < _remote.Media.Count; i++)
            {
                var rm = _remote.Media[i];
                if (IsRtpSection(rm)) continue; // AddMediaSections answered those
                bool accept = rm.IsDataChannel && rm.Port != 0 && (ReferenceEquals(rm, transport) || (rm.Mid is { } id && bundle.Contains(id)))
                    && ReferenceEquals(rm, _remote.DataChannelMedia);
                if (accept) { lines.Add((i, DataSection(rm.Mid ?? Mid, Transport))); continue; }
                var rej = new SdpMediaDescription { Media = rm.Media, Port = 0, Protocol = rm.Protocol, Connection = "IN IP4 0.0.0.0" };
                rej.Formats.Clear();
                rej.Formats.Add(rm.Formats.Count > 0 ? rm.Formats[0] : "0");
                if (rm.Mid is { } rmid) rej.Attributes.Add(new SdpAttribute("mid", rmid));
                lines.Add((i, rej));
            }
        }
        foreach (var (_, m) in lines.OrderBy(l => l.Line)) sd.Media.Add(m);
        var mids = sd.Media.Where(m => m.Port != 0 && m.Mid is not null).Select(m => m.Mid!).ToList();
        // an answerer may only BUNDLE what the offer bundled (RFC 8843 §7.3)
        if (mids.Count > 0 && (!isAnswer || (_remote is not null && BundleMids(_remote).Count > 0)))
            sd.Attributes.Add(new SdpAttribute("group", "BUNDLE " + string.Join(' ', mids)));
        if (_ice.IsLite) sd.Attributes.Add(new SdpAttribute("ice-lite"));
        sd.Attributes.Add(new SdpAttribute("msid-semantic", " WMS"));
        return sd;
    }

    private SdpMediaDescription DataSection(string mid, Action<SdpMediaDescription> transport)
    {
        var m = new SdpMediaDescription();
        transport(m);
        m.Attributes.Add(new SdpAttribute("mid", mid));
        m.Attributes.Add(new SdpAttribute("sctp-port", "5000"));
        m.Attributes.Add(new SdpAttribute("max-message-size", _options.MaxMessageSize.ToString(CultureInfo.InvariantCulture)));
        return m;
    }

    private SessionDescription WithCandidates(SessionDescription sd)
    {
        var copy = SessionDescription.Parse(sd.ToString());
        var m = copy.Media.FirstOrDefault(x => x.Port != 0);
        if (m is null) return copy;
        int at = m.Attributes.FindIndex(a => a.Name == "ice-ufrag");
        var cands = _localCandidates.Select(c => new SdpAttribute("candidate", c.ToString()["candidate:".Length..])).ToList();
        if (_ice.GatheringComplete) cands.Add(new SdpAttribute("end-of-candidates"));
        m.Attributes.InsertRange(Math.Max(0, at), cands);
        return copy;
    }

    /// <summary>
    /// Applies our offer or answer. The driver then gathers: <see cref="AddLocalCandidate"/> per socket and
    /// <see cref="CompleteGathering"/> (unless <see cref="IceAgent.GatheringComplete"/> already).
    /// </summary>
    public void SetLocalDescription(RTCSessionDescription description, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(description);
        ThrowIfClosed();
        var sd = SessionDescription.Parse(description.Sdp);
        var m = sd.Media.FirstOrDefault(x => x.Port != 0 && (x.IsDataChannel || IsRtpSection(x)))
            ?? throw new WebRtcException(WebRtcError.InvalidDescription, "no usable m-section (data channel, audio or video)");
        if (description.Type == RTCSdpType.Answer && SignalingState != RTCSignalingState.HaveRemoteOffer)
            throw new WebRtcException(WebRtcError.InvalidState, "an answer needs a remote offer first");
        if (description.Type == RTCSdpType.Offer && SignalingState is not (RTCSignalingState.Stable or RTCSignalingState.HaveLocalOffer))
            throw new WebRtcException(WebRtcError.InvalidState, $"cannot set a local offer in signaling state {SignalingState}");
        _local = sd;
        _localType = description.Type;
        Mid = sd.DataChannelMedia?.Mid ?? Mid;
        if (description.Type == RTCSdpType.Answer) _weAreDtlsClient = m.Setup == "active";
        SetSignalingState(description.Type == RTCSdpType.Offer ? RTCSignalingState.HaveLocalOffer : RTCSignalingState.Stable);
        MaybeStartTransports(now);
    }

    /// <summary>Applies the peer's offer or answer: ICE credentials and candidates, fingerprint, DTLS role, SCTP port, max-message-size.</summary>
    /// <returns>Remote candidates with <c>.local</c> names for the driver to resolve and add with <see cref="AddRemoteCandidate"/>.</returns>
    public IReadOnlyList<IceCandidate> SetRemoteDescription(RTCSessionDescription description, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(description);
        ThrowIfClosed();
        var sd = SessionDescription.Parse(description.Sdp);
        var m = TransportSection(sd) ?? throw new WebRtcException(WebRtcError.InvalidDescription, "no usable m-section (data channel, audio or video)");
        var bundleMids = BundleMids(sd);
        var data = sd.DataChannelMedia is { } dm && (ReferenceEquals(dm, m) || (dm.Mid is { } dmid && bundleMids.Contains(dmid))) ? dm : null;
        string? ufrag = sd.GetEffective(m, "ice-ufrag"), pwd = sd.GetEffective(m, "ice-pwd");
        if (ufrag is null || pwd is null) throw new WebRtcException(WebRtcError.InvalidDescription, "missing ice-ufrag/ice-pwd");
        string? fp = sd.GetEffective(m, "fingerprint");
        if (!SdpFingerprint.TryParse(fp, out _)) throw new WebRtcException(WebRtcError.InvalidDescription, "missing or malformed a=fingerprint");
        if (description.Type == RTCSdpType.Answer && SignalingState != RTCSignalingState.HaveLocalOffer)
            throw new WebRtcException(WebRtcError.InvalidState, "an answer needs a local offer first");
        if (description.Type == RTCSdpType.Offer && SignalingState is not (RTCSignalingState.Stable or RTCSignalingState.HaveRemoteOffer))
            throw new WebRtcException(WebRtcError.InvalidState, $"cannot set a remote offer in signaling state {SignalingState}");
        string setup = sd.GetEffective(m, "setup") ?? "actpass";
        if (description.Type == RTCSdpType.Answer && setup is not ("active" or "passive"))
            throw new WebRtcException(WebRtcError.InvalidDescription, "an answer must say setup:active or setup:passive");
        _remote = sd;
        RemoteDescription = description;
        _remoteSetup = setup;
        _remoteSctpPort = data?.SctpPort ?? 5000;
        _hasData = data is not null;
        RemoteMaxMessageSize = data?.MaxMessageSize is long mms ? (mms == 0 ? long.MaxValue : mms) : 65536;
        ApplyRemoteMedia(sd, m, description.Type == RTCSdpType.Offer, now);
        if (description.Type == RTCSdpType.Offer)
        {
            Mid = data?.Mid ?? "0";
            if (!_ice.IsLite) _ice.SetRole(sd.IceLite ? IceRole.Controlling : IceRole.Controlled);
        }
        else
        {
            _weAreDtlsClient = _remoteSetup == "passive";
            if (!_ice.IsLite) _ice.SetRole(IceRole.Controlling);
        }
        _ice.SetRemoteCredentials(new IceCredentials(ufrag, pwd), sd.IceLite);
        var unresolved = new List<IceCandidate>();
        foreach (var c in m.Candidates)
            if (TryAddIceCandidate("candidate:" + c, out var u) && u is not null) unresolved.Add(u);
        if (m.EndOfCandidates) _ice.SetRemoteGatheringComplete();
        SetSignalingState(description.Type == RTCSdpType.Offer ? RTCSignalingState.HaveRemoteOffer : RTCSignalingState.Stable);
        MaybeStartTransports(now);
        AfterInput(now);
        return unresolved;
    }

    /// <summary>
    /// Adds a trickled remote candidate line (<c>candidate:...</c>; empty = end of candidates). Returns false when it is
    /// malformed. A candidate whose address is an mDNS <c>.local</c> name is not added: it comes back in
    /// <paramref name="unresolved"/> for the driver to resolve and pass to <see cref="AddRemoteCandidate"/>.
    /// </summary>
    public bool TryAddIceCandidate(string candidate, out IceCandidate? unresolved)
    {
        unresolved = null;
        ThrowIfClosed();
        if (string.IsNullOrEmpty(candidate)) { _ice.SetRemoteGatheringComplete(); return true; }
        if (!IceCandidate.TryParse(candidate, out var c) || c is null) return false;
        if (c.IsMdns) { unresolved = c; return true; }
        _ice.AddRemoteCandidate(c);
        return true;
    }

    /// <summary>Adds a remote candidate whose address is an IP literal (e.g. a resolved <c>.local</c> candidate).</summary>
    public bool AddRemoteCandidate(IceCandidate candidate)
    {
        ThrowIfClosed();
        return _ice.AddRemoteCandidate(candidate);
    }

    /// <summary>
    /// Adds a host candidate for a local socket bound at <paramref name="baseEndPoint"/> (signalled as
    /// <paramref name="mdnsHostName"/> when given); queues an <see cref="IceEventKind.CandidateGathered"/> event.
    /// </summary>
    public IceCandidate AddLocalCandidate(IPEndPoint baseEndPoint, string? mdnsHostName = null, int localPreference = -1)
    {
        ThrowIfClosed();
        var c = _ice.AddLocalHostCandidate(baseEndPoint, mdnsHostName, localPreference);
        _localCandidates.Add(c);
        return c;
    }

    /// <summary>
    /// ICE restart without renegotiating the rest of the session (RFC 8445 §9; a WHEP/WHIP PATCH with new credentials,
    /// RFC 9725 §4.3.2): takes the peer's new <paramref name="remoteUfrag"/>/<paramref name="remotePassword"/>, makes new
    /// local credentials, keeps the local candidates, DTLS and SRTP (media stays on the selected pair until the new ICE
    /// session selects one). Returns the answer as a trickle SDP fragment (RFC 8840): <c>a=ice-ufrag</c>, <c>a=ice-pwd</c>,
    /// then the first bundled section's <c>m=</c> line and <c>a=mid</c> with every local candidate and <c>a=end-of-candidates</c>.
    /// The peer's new candidates follow with <see cref="TryAddIceCandidate"/>. An offerer that already sent its new credentials
    /// passes them as <paramref name="local"/> (the fragment is then only for its own records).
    /// </summary>
    public string RestartIce(string remoteUfrag, string remotePassword, TimeSpan now, IceCredentials? local = null)
    {
        ThrowIfClosed();
        ArgumentException.ThrowIfNullOrEmpty(remoteUfrag);
        ArgumentException.ThrowIfNullOrEmpty(remotePassword);
        if (_local is null || _remote is null) throw new WebRtcException(WebRtcError.InvalidState, "ICE restart needs both descriptions");
        var remote = new IceCredentials(remoteUfrag, remotePassword);
        if (!remote.IsValid || local is { IsValid: false })
            throw new WebRtcException(WebRtcError.InvalidDescription, "ice-ufrag must be 4-256 and ice-pwd 22-256 ice-chars (RFC 8839 §5.4)");
        local = _ice.Restart(remote, now, local);
        // LocalDescription shows the credentials in use
        SetIceCredentials(_local, local);
        AfterInput(now);
        var frag = new System.Text.StringBuilder();
        frag.Append("a=ice-ufrag:").Append(local.Ufrag).Append("\r\n");
        frag.Append("a=ice-pwd:").Append(local.Password).Append("\r\n");
        if (_local.Media.FirstOrDefault(x => x.Port != 0) is { } m)
        {
            frag.Append("m=").Append(m.Media).Append(" 9 ").Append(m.Protocol).Append(' ').Append(string.Join(' ', m.Formats)).Append("\r\n");
            if (m.Mid is { } mid) frag.Append("a=mid:").Append(mid).Append("\r\n");
        }
        foreach (var c in _localCandidates) frag.Append("a=").Append(c.ToString()).Append("\r\n");
        if (_ice.GatheringComplete) frag.Append("a=end-of-candidates\r\n");
        return frag.ToString();
    }

    private static void SetIceCredentials(SessionDescription sd, IceCredentials c)
    {
        foreach (var attrs in sd.Media.Select(m => m.Attributes).Prepend(sd.Attributes))
            for (int i = 0; i < attrs.Count; i++)
            {
                if (attrs[i].Name == "ice-ufrag") attrs[i] = attrs[i] with { Value = c.Ufrag };
                else if (attrs[i].Name == "ice-pwd") attrs[i] = attrs[i] with { Value = c.Password };
            }
    }

    /// <summary>Local gathering is done; queues <see cref="IceEventKind.GatheringComplete"/>.</summary>
    public void CompleteGathering() => _ice.CompleteGathering();

    private void SetSignalingState(RTCSignalingState s)
    {
        if (SignalingState == s) return;
        SignalingState = s;
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.SignalingStateChanged, SignalingState: s));
    }

    private void MaybeStartTransports(TimeSpan now)
    {
        if (_dtls is not null || _local is null || _remote is null) return;
        string remoteFp = _remote.GetEffective(TransportSection(_remote)!, "fingerprint")!;
        _dtls = new DtlsEndpoint(new DtlsOptions
        {
            IsClient = _weAreDtlsClient,
            Certificate = _certificate,
            RemoteFingerprint = remoteFp,
            Mtu = DtlsMtu,
            Random = _options.Random ?? SystemRandom,
        });
        if (_hasData) _sctp = new DataChannelEndpoint(new SctpOptions
        {
            IsDtlsClient = _weAreDtlsClient,
            LocalPort = 5000,
            RemotePort = (ushort)_remoteSctpPort,
            MaxMessageSize = _options.MaxMessageSize,
            RemoteMaxMessageSize = (int)Math.Min(int.MaxValue, RemoteMaxMessageSize),
            Mtu = SctpMtu,
            SendBufferSize = DataChannelSendBuffer,
            ReceiveWindow = Volatile.Read(ref BenchReceiveWindow) is > 0 and var w ? w : new SctpOptions().ReceiveWindow,
            Random = _options.Random,
        });
        _ice.Start(now);
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.TransportsCreated,
            Reason: $"DTLS {(_weAreDtlsClient ? "client" : "server")}, ICE {_ice.Role}{(_ice.IsLite ? " (lite)" : "")}"));
        SetConnectionState(RTCPeerConnectionState.Connecting);
    }

    // ------------------------------------------------------------------ data channels

    /// <summary>
    /// Opens a data channel and returns its SCTP stream id (DCEP, or negotiated with <see cref="DataChannelOptions.Id"/>);
    /// a <see cref="DataChannelEventKind.ChannelOpened"/> event follows when it is usable. Needs <see cref="TransportsCreated"/>.
    /// </summary>
    public ushort OpenChannel(string label, DataChannelOptions options, TimeSpan now)
    {
        ThrowIfClosed();
        if (_sctp is null) throw new WebRtcException(WebRtcError.InvalidState, "transports are not created yet (set both descriptions first)");
        return _sctp.OpenChannel(label, options, now);
    }

    /// <summary>
    /// Bytes of data-channel messages the SCTP association holds (queued or in flight) at most, all channels together:
    /// 16 MiB, Chromium's limit on an RTCDataChannel's bufferedAmount. A send beyond it fails with
    /// <see cref="WebRtcError.SendBufferFull"/>.
    /// </summary>
    internal const long DataChannelSendBuffer = 16L << 20;

    /// <summary>Benches only (A/B of the advertised SCTP receive window, issue 14): &gt; 0 replaces the default for connections created afterwards.</summary>
    internal static int BenchReceiveWindow;

    /// <summary>Bytes the SCTP association holds for data-channel messages (queued or unacknowledged), all channels.</summary>
    internal long DataChannelSendBufferUsed => _sctp?.Association.SendBufferUsed ?? 0;

    /// <summary>
    /// Receive-side back-pressure: <paramref name="bytes"/> of a delivered message the application queued instead of
    /// consuming; they keep the advertised SCTP window closed until <see cref="ReleaseDataChannelReceive"/>.
    /// </summary>
    internal void HoldDataChannelReceive(long bytes) => _sctp?.Association.HoldReceived(bytes);

    /// <summary>The application consumed <paramref name="bytes"/> it held (<see cref="HoldDataChannelReceive"/>).</summary>
    internal void ReleaseDataChannelReceive(long bytes)
    {
        if (!_closed) _sctp?.Association.ReleaseReceived(bytes);
    }

    /// <summary>Queues one message on channel <paramref name="id"/>; throws <see cref="WebRtcException"/> (too large, send buffer full, closed).</summary>
    public void Send(ushort id, ReadOnlySpan<byte> data, bool isText, TimeSpan now)
    {
        if (_sctp is null || _closed) throw new WebRtcException(WebRtcError.InvalidState, "the peer connection is not connected");
        _sctp.Send(id, data, isText, now);
    }

    /// <summary>Bytes queued on channel <paramref name="id"/> and not yet sent.</summary>
    public long GetBufferedAmount(ushort id) => _sctp?.GetBufferedAmount(id) ?? 0;

    /// <summary>Sets the threshold under which a <see cref="DataChannelEventKind.BufferedAmountLow"/> event is queued.</summary>
    public void SetBufferedAmountLowThreshold(ushort id, long threshold) => _sctp?.SetBufferedAmountLowThreshold(id, threshold);

    /// <summary>Closes channel <paramref name="id"/> (stream reset); false when no such channel is open.</summary>
    public bool CloseChannel(ushort id, TimeSpan now)
    {
        if (_sctp is null || _closed || !_sctp.ChannelIds.Contains(id)) return false;
        _sctp.CloseChannel(id, now);
        return true;
    }

    /// <summary>Closes everything: SCTP ABORT and DTLS close_notify are queued as the last transmits; ICE stops.</summary>
    public void Close(TimeSpan now)
    {
        if (_closed) return;
        if (_dtls?.State == DtlsState.Connected && _ice.SelectedPair is not null)
        {
            _sctp?.Abort();
            while (_sctp is not null && _sctp.TryPollTransmit(_packet, now, out var sp))
            {
                var rec = new byte[sp.Length + DtlsEndpoint.ApplicationDataOverhead];
                int rl = _dtls.SealApplicationData(_packet.AsSpan(0, sp.Length), rec);
                _finalTransmits.Enqueue(rec[..rl]);
            }
            _dtls.Close();
            var buf = new byte[DtlsMtu + 256];
            while (_dtls.TryPollTransmit(buf, now, out int dl)) _finalTransmits.Enqueue(buf[..dl]);
        }
        _finalPath = _ice.SelectedPair is { } p ? new DatagramPath(p.Local.Base, p.RemoteEndPoint) : default;
        _ice.Close();
        _closed = true;
        SetSignalingState(RTCSignalingState.Closed);
        SetConnectionState(RTCPeerConnectionState.Closed);
    }

    private DatagramPath _finalPath;

    /// <summary>Releases the DTLS endpoint's keys.</summary>
    public void Dispose() => _dtls?.Dispose();

    /// <summary>True after <see cref="Close"/>.</summary>
    public bool IsClosed => _closed;

    // ------------------------------------------------------------------ IProtocolCore

    /// <inheritdoc/>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (_closed || path.Local is not { } local || path.Remote is not { } remote) return;
        switch (PacketDemux.Classify(datagram))
        {
            case PacketKind.Stun:
                _ice.ReceiveStun(datagram, local, remote, now);
                break;
            case PacketKind.Dtls:
                if (_dtls is null || _shutdown) return;
                if (!_ice.IsValidated(local, remote)) { DroppedUnvalidated++; return; }
                _dtls.Receive((ReadOnlySpan<byte>)datagram, now); // failures come back as DtlsEvents
                break;
            case PacketKind.Rtp:
                if (_dtls is null || _shutdown) return;
                if (!_ice.IsValidated(local, remote)) { DroppedUnvalidated++; return; }
                ReceiveMedia(datagram, now);
                return;
            default:
                return; // ZRTP/TURN/unknown
        }
        AfterInput(now);
    }

    /// <inheritdoc/>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        if (_sctp is not null) _sackPolicy.EndBatch(_sctp.Association); // the driver flushes: the receive batch ends
        if (_finalTransmits.TryDequeue(out var last))
        {
            if (last.Length <= destination.Length && _finalPath.Remote is not null)
            {
                last.CopyTo(destination);
                transmit = new Transmit(last.Length, _finalPath);
                return true;
            }
        }
        if (_ice.TryPollTransmit(destination, now, out transmit)) return true;
        transmit = default;
        if (_dtls is null || _closed) return false;
        if (_ice.SelectedPair is not { } pair || _ice.State == RTCIceConnectionState.Failed) return false;
        var to = new DatagramPath(pair.Local.Base, pair.RemoteEndPoint);
        // Handshake records first: our final DTLS flight (CCS + Finished) must reach the peer before the first
        // epoch-1 SCTP packet, or a peer still waiting for Finished drops that INIT.
        if (_dtls.TryPollTransmit(destination, now, out int hsLength))
        {
            transmit = new Transmit(hsLength, to);
            return true;
        }
        if (_earlySackCount > 0 && _earlySackLength[_earlySackHead] <= destination.Length)
        {
            int length = _earlySackLength[_earlySackHead];
            _earlySacks[_earlySackHead].AsSpan(0, length).CopyTo(destination);
            _earlySackHead = (_earlySackHead + 1) % EarlySackSlots;
            _earlySackCount--;
            transmit = new Transmit(length, to);
            return true;
        }
        if (_dtls.State == DtlsState.Connected && TryPollMedia(destination, now, out int mediaLength))
        {
            transmit = new Transmit(mediaLength, to);
            return true;
        }
        if (_sctp is not null && _dtls.State == DtlsState.Connected && destination.Length >= SctpMtu + DtlsEndpoint.ApplicationDataOverhead
            && _sctp.TryPollTransmit(_packet, now, out var sp))
        {
            int rl = _dtls.SealApplicationData(_packet.AsSpan(0, sp.Length), destination);
            transmit = new Transmit(rl, to);
            return true;
        }
        return false;
    }

    /// <inheritdoc/>
    public TimeSpan? NextDeadline
    {
        get
        {
            if (_closed) return null;
            var t = _ice.NextDeadline;
            if (_dtls is { State: DtlsState.Connecting, NextDeadline: TimeSpan d } && (t is null || d < t)) t = d;
            if (_sctp?.NextDeadline is TimeSpan s && (t is null || s < t)) t = s;
            if (MediaNextDeadline is TimeSpan r && (t is null || r < t)) t = r;
            return t;
        }
    }

    /// <inheritdoc/>
    public void HandleDeadline(TimeSpan now)
    {
        if (_closed) return;
        if (_ice.NextDeadline is { } i && i <= now) _ice.HandleDeadline(now);
        if (_dtls?.NextDeadline is TimeSpan d && d <= now) _dtls.HandleDeadline(now);
        if (_sctp?.NextDeadline is TimeSpan s && s <= now && _dtls is not null) _sctp.HandleDeadline(now);
        HandleMediaDeadline(now);
        AfterInput(now);
        if (SendIdle is { } idle && (_sctp is null || _sctp.Association.SendBufferUsed == 0)) idle();
    }

    /// <summary>
    /// Called (on the loop) at the end of a timer pass while no data-channel bytes are buffered or unacknowledged: the
    /// driver gives back what it keeps only while sending (RTCPeerConnection: its send staging's spare arrays).
    /// </summary>
    internal Action? SendIdle { get; set; }

    /// <inheritdoc/>
    public bool TryPollEvent(out PeerConnectionEvent ev)
    {
        PullIceEvents(_lastNow); // gathering events queued by AddLocalCandidate/CompleteGathering
        if (_events.TryDequeue(out ev)) return true;
        if (_sctp is not null && !_closed && _sctp.TryPollEvent(out var dc))
        {
            OnDataChannelEvent(dc);
            ev = new PeerConnectionEvent(PeerConnectionEventKind.DataChannel, DataChannel: dc);
            return true;
        }
        ev = default;
        return false;
    }

    // ------------------------------------------------------------------ internals

    private void Enqueue(PeerConnectionEvent e)
    {
        // State changes are few; only a peer that floods us could fill this, and then older diagnostics matter less.
        if (_events.Count < MaxQueuedEvents || e.Kind != PeerConnectionEventKind.TransportError) _events.Enqueue(e);
    }

    /// <summary>Moves ICE events up, starts DTLS on selection, feeds decrypted records to SCTP, follows DTLS state.</summary>
    private void AfterInput(TimeSpan now)
    {
        _lastNow = now;
        PullIceEvents(now);
        if (_dtls is null) return;
        while (_dtls.TryPollEvent(out var de))
        {
            switch (de.Kind)
            {
                case DtlsEventKind.StateChanged when de.State != _dtlsState:
                    _dtlsState = de.State;
                    Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.DtlsStateChanged, DtlsState: _dtlsState, Reason: de.Error?.Message));
                    if (_dtlsState == DtlsState.Connected)
                    {
                        StartSrtp();
                        _sctp?.Connect(now); // both sides send INIT (werift as DTLS client waits for ours)
                    }
                    UpdateConnectionState();
                    if (_dtlsState is DtlsState.Closed or DtlsState.Failed) Shutdown();
                    break;
                case DtlsEventKind.AlertReceived:
                    Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.TransportError, Reason: $"DTLS alert level {de.AlertLevel} description {de.AlertDescription}"));
                    break;
            }
        }
        var record = _appRecord ??= new byte[DtlsEndpoint.MaxApplicationDataSize];
        while (_dtls.TryReadApplicationData(record, out int recordLength))
        {
            if (_sctp is null) continue;
            try { _sctp.Receive(record.AsSpan(0, recordLength), now); }
            catch (WebRtcException ex) { Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.TransportError, Reason: "SCTP: " + ex.Message)); }
            _sackPolicy.Mode = SackMode != 0 ? SackMode : Volatile.Read(ref BenchSackMode);
            _sackPolicy.Threshold = Volatile.Read(ref BenchSackThreshold);
            if (_sackPolicy.SealAfterPacket(_sctp.Association)) QueueEarlySack();
        }
    }

    // Issue 14 (session 14): SACKs owed in the middle of a receive batch. The loop feeds a whole batch (up to 16
    // datagrams) before it flushes, so SCTP used to answer it with one SACK — one per 2.4–4.3 DATA packets measured from
    // Chromium — where RFC 9260 §6.2 says at least every second packet (Chromium's dcsctp does that; its slow start
    // grows cwnd by at most one MTU per SACK). A SACK owed after a packet is sealed here into a small ring and goes out
    // first in the flush; when the ring is full (a pass of more than 128 DATA packets: the inbox backed up) or a SACK
    // needs more than a slot (many gap blocks), the flush's own SACK covers the rest. Slots are made on first use
    // (a connection that never receives bulk data makes none): at most 64 × 256 bytes.
    private const int EarlySackSlots = 64;
    private const int EarlySackSlotSize = 256;
    private readonly byte[]?[] _earlySacks = new byte[EarlySackSlots][];
    private readonly int[] _earlySackLength = new int[EarlySackSlots];
    private int _earlySackHead, _earlySackCount;

    /// <summary>
    /// Benches only (A/B) — which owed SACKs are sealed mid-batch (<see cref="ReceiveBatchSackPolicy"/>): 0 = the default
    /// (<see cref="ReceiveBatchSackPolicy.DefaultPolicy"/>); 1 = none: one SACK per receive batch at the flush (before
    /// session 14); 2 = every owed one, also each packet in a gap (sessions 14–15); 3 = those owed for every second DATA
    /// packet, a SACK owed for a gap, a duplicate or a window update waits for the flush (session 16); 4 = one SACK per
    /// batch until the batch has run <see cref="BenchSackThreshold"/> DATA packets, then as 3 (session 17).
    /// </summary>
    internal static int BenchSackMode;

    /// <summary>Benches only: mode 4's threshold (DATA packets into a batch); 0 = <see cref="ReceiveBatchSackPolicy.DefaultThreshold"/>.</summary>
    internal static int BenchSackThreshold;

    private readonly ReceiveBatchSackPolicy _sackPolicy = new();

    /// <summary>Tests only: this connection's SACK policy (a <see cref="BenchSackMode"/> value; 0 = what that says).</summary>
    internal int SackMode { get; set; }

    private void QueueEarlySack()
    {
        if (_earlySackCount == EarlySackSlots || _dtls is not { State: DtlsState.Connected } dtls) return;
        int at = (_earlySackHead + _earlySackCount) % EarlySackSlots;
        var slot = _earlySacks[at] ??= new byte[EarlySackSlotSize];
        if (!_sctp!.Association.TryWriteSackPacket(_packet.AsSpan(0, EarlySackSlotSize - DtlsEndpoint.ApplicationDataOverhead), out int n)) return;
        _earlySackLength[at] = dtls.SealApplicationData(_packet.AsSpan(0, n), slot);
        _earlySackCount++;
        _sackPolicy.OnSealed();
    }

    private void PullIceEvents(TimeSpan now)
    {
        while (_ice.TryPollEvent(out var ie))
        {
            if (ie.Kind == IceEventKind.DataReceived) continue; // not raised: we demultiplex ourselves
            Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.Ice, Ice: ie));
            if (ie.Kind == IceEventKind.SelectedPairChanged && _dtls is { State: DtlsState.New }) _dtls.Start(now);
            if (ie.Kind == IceEventKind.StateChanged) UpdateConnectionState();
        }
    }

    private TimeSpan _lastNow;

    private void OnDataChannelEvent(DataChannelEvent e)
    {
        switch (e.Kind)
        {
            case DataChannelEventKind.Connected:
                UpdateConnectionState();
                break;
            case DataChannelEventKind.Disconnected:
                Shutdown();
                break;
        }
    }

    private void Shutdown()
    {
        _shutdown = true;
        if (ConnectionState is not (RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed))
            SetConnectionState(_dtlsState == DtlsState.Failed ? RTCPeerConnectionState.Failed : RTCPeerConnectionState.Closed);
    }

    private void UpdateConnectionState()
    {
        if (ConnectionState is RTCPeerConnectionState.Closed) return;
        var s = _ice.State switch
        {
            RTCIceConnectionState.Failed => RTCPeerConnectionState.Failed,
            RTCIceConnectionState.Disconnected => RTCPeerConnectionState.Disconnected,
            RTCIceConnectionState.Closed => RTCPeerConnectionState.Closed,
            RTCIceConnectionState.Connected or RTCIceConnectionState.Completed => _dtlsState switch
            {
                DtlsState.Connected => RTCPeerConnectionState.Connected,
                DtlsState.Failed => RTCPeerConnectionState.Failed,
                DtlsState.Closed => RTCPeerConnectionState.Closed,
                _ => RTCPeerConnectionState.Connecting,
            },
            _ => ConnectionState == RTCPeerConnectionState.New ? RTCPeerConnectionState.New : RTCPeerConnectionState.Connecting,
        };
        SetConnectionState(s);
        if (s == RTCPeerConnectionState.Failed) Shutdown();
    }

    private void SetConnectionState(RTCPeerConnectionState s)
    {
        if (s == ConnectionState) return;
        if (ConnectionState is RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed && s != RTCPeerConnectionState.Closed) return;
        ConnectionState = s;
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.ConnectionStateChanged, ConnectionState: s));
    }

    private void ThrowIfClosed()
    {
        if (_closed) throw new WebRtcException(WebRtcError.Closed, "the peer connection is closed");
    }
}

/// <summary>Settings of a <see cref="PeerConnectionCore"/>.</summary>
public sealed record PeerConnectionCoreOptions
{
    /// <summary>Our DTLS certificate (ECDSA P-256); generated when null.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Run ICE-lite (signal <c>a=ice-lite</c>, never send checks).</summary>
    public bool IceLite { get; init; }

    /// <summary>Our <c>a=max-message-size</c> (Chrome: 262144).</summary>
    public int MaxMessageSize { get; init; } = 262_144;

    /// <summary>ICE timers and limits.</summary>
    public IceAgentOptions Ice { get; init; } = new();

    /// <summary>Randomness (session id, DTLS, and ICE when <see cref="IceAgentOptions.Random"/> is null); null = the system CSPRNG.</summary>
    public RandomNumberGenerator? Random { get; init; }

    /// <summary>Send REMB for received video when the peer negotiated <c>goog-remb</c> (so a publishing browser ramps its bitrate). Default true.</summary>
    public bool SendRemb { get; init; } = true;
}

/// <summary>What a <see cref="PeerConnectionEvent"/> reports.</summary>
public enum PeerConnectionEventKind
{
    /// <summary>An ICE event (<see cref="PeerConnectionEvent.Ice"/>): candidate gathered, gathering complete, state, selected pair.</summary>
    Ice,
    /// <summary>A data-channel event (<see cref="PeerConnectionEvent.DataChannel"/>): opened, message, buffered-amount-low, error, closed.</summary>
    DataChannel,
    /// <summary><see cref="PeerConnectionCore.ConnectionState"/> changed (<see cref="PeerConnectionEvent.ConnectionState"/>).</summary>
    ConnectionStateChanged,
    /// <summary><see cref="PeerConnectionCore.SignalingState"/> changed (<see cref="PeerConnectionEvent.SignalingState"/>).</summary>
    SignalingStateChanged,
    /// <summary>The DTLS transport's state changed (<see cref="PeerConnectionEvent.DtlsState"/>; <see cref="PeerConnectionEvent.Reason"/> on failure).</summary>
    DtlsStateChanged,
    /// <summary>Both descriptions are applied and DTLS/SCTP exist (<see cref="PeerConnectionEvent.Reason"/> describes the roles).</summary>
    TransportsCreated,
    /// <summary>A recoverable transport error worth logging (<see cref="PeerConnectionEvent.Reason"/>).</summary>
    TransportError,
    /// <summary>The peer's description makes transceiver <see cref="PeerConnectionEvent.Transceiver"/> receive media (W3C <c>ontrack</c>).</summary>
    Track,
    /// <summary>Received frames are queued on transceiver <see cref="PeerConnectionEvent.Transceiver"/>: read them with <see cref="PeerConnectionCore.TryReadFrame"/> (raised again once the queue was drained).</summary>
    RtpReceived,
    /// <summary>The peer asked for a keyframe (PLI or FIR) on transceiver <see cref="PeerConnectionEvent.Transceiver"/>.</summary>
    KeyframeRequested,
    /// <summary>The peer sent a REMB for our stream on transceiver <see cref="PeerConnectionEvent.Transceiver"/> (value in its <see cref="RtpStreamStats.BitrateEstimate"/>).</summary>
    BitrateEstimate,
}

/// <summary>One event of a <see cref="PeerConnectionCore"/>; only the fields of its <see cref="Kind"/> are set.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Ice">For <see cref="PeerConnectionEventKind.Ice"/>.</param>
/// <param name="DataChannel">For <see cref="PeerConnectionEventKind.DataChannel"/>.</param>
/// <param name="ConnectionState">For <see cref="PeerConnectionEventKind.ConnectionStateChanged"/>.</param>
/// <param name="SignalingState">For <see cref="PeerConnectionEventKind.SignalingStateChanged"/>.</param>
/// <param name="DtlsState">For <see cref="PeerConnectionEventKind.DtlsStateChanged"/>.</param>
/// <param name="Reason">Human-readable detail.</param>
/// <param name="Transceiver">For <see cref="PeerConnectionEventKind.Track"/>, <see cref="PeerConnectionEventKind.RtpReceived"/> and <see cref="PeerConnectionEventKind.KeyframeRequested"/>: the transceiver index.</param>
public readonly record struct PeerConnectionEvent(
    PeerConnectionEventKind Kind,
    IceEvent Ice = default,
    DataChannelEvent DataChannel = default,
    RTCPeerConnectionState ConnectionState = RTCPeerConnectionState.New,
    RTCSignalingState SignalingState = RTCSignalingState.Stable,
    DtlsState DtlsState = DtlsState.New,
    string? Reason = null,
    int Transceiver = -1);
