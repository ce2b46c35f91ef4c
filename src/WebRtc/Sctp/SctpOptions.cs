using System.Security.Cryptography;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// Configuration of one <see cref="SctpAssociation"/>. Defaults fit WebRTC data channels (RFC 8831/8841) as browsers
/// run them: ports 5000, packets of at most 1200 bytes of DTLS payload, 256 KiB inbound message limit.
/// </summary>
public sealed record SctpOptions
{
    /// <summary>Our SCTP port (SDP <c>a=sctp-port</c>); 5000 for browsers.</summary>
    public ushort LocalPort { get; init; } = 5000;

    /// <summary>The peer's SCTP port (its SDP <c>a=sctp-port</c>); 5000 for browsers.</summary>
    public ushort RemotePort { get; init; } = 5000;

    /// <summary>Largest SCTP packet we build (the DTLS record payload); at least 256. Browsers keep to ~1200.</summary>
    public int Mtu { get; init; } = 1200;

    /// <summary>Largest message we accept (our SDP <c>a=max-message-size</c>); bounds reassembly. Default 256 KiB.</summary>
    public int MaxMessageSize { get; init; } = 262_144;

    /// <summary>
    /// Largest message the peer accepts (its SDP <c>a=max-message-size</c>; RFC 8841 says assume 65536 when absent,
    /// 0 in SDP means "no limit" — pass <see cref="int.MaxValue"/>). Larger sends are rejected.
    /// </summary>
    public int RemoteMaxMessageSize { get; init; } = 65_536;

    /// <summary>True if we are the DTLS client: then our data-channel stream ids are even, the peer's odd (RFC 8832 §6).</summary>
    public bool IsDtlsClient { get; init; }

    /// <summary>Outbound streams we ask for in INIT (negotiated down to the peer's inbound count). libwebrtc uses 1024.</summary>
    public ushort OutboundStreams { get; init; } = 1024;

    /// <summary>Inbound streams we accept (announced in INIT as MIS).</summary>
    public ushort InboundStreams { get; init; } = 1024;

    /// <summary>Receive buffer, advertised as a_rwnd; must be at least <see cref="MaxMessageSize"/> + 64 KiB. Default 1 MiB.</summary>
    public int ReceiveWindow { get; init; } = 1 << 20;

    /// <summary>Most bytes of user messages queued and not yet acknowledged; further sends fail. Default 8 MiB.</summary>
    public long SendBufferSize { get; init; } = 8L << 20;

    /// <summary>Initial RTO (RFC 9260 §6.3.1 recommends 1 s).</summary>
    public TimeSpan RtoInitial { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lower bound of the RTO. RFC 9260 says 1 s; browsers' stacks use a few hundred ms, we use 200 ms.</summary>
    public TimeSpan RtoMin { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of the RTO (RFC 9260: 60 s; we use 10 s so a dead peer is noticed sooner).</summary>
    public TimeSpan RtoMax { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Consecutive T1 expiries (INIT / COOKIE ECHO) before giving up (RFC 9260 Max.Init.Retransmits = 8).</summary>
    public int MaxInitRetransmits { get; init; } = 8;

    /// <summary>Consecutive unanswered retransmissions / heartbeats before the association fails (Association.Max.Retrans = 10).</summary>
    public int MaxRetransmissions { get; init; } = 10;

    /// <summary>Idle HEARTBEAT interval (RFC 9260 HB.interval = 30 s); the RTO is added, as the RFC says.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Max.Burst (RFC 9260 §6.1, default 4 in §16): at most this many packets carrying DATA go out in answer to one
    /// received packet (or one timer, or one send with nothing in flight), however far the congestion window is open.
    /// Keeps a window that opens at once (a SACK that fills a hole, the end of fast recovery) from leaving as one
    /// line-rate burst that a slow receiver's socket drops. libwebrtc's dcsctp applies the same limit (its max_burst, 4).
    /// 0 (the default) = no limit.
    /// </summary>
    public int MaxBurst { get; init; }

    /// <summary>Delayed SACK timeout (RFC 9260 §6.2: at most 500 ms; 200 ms is the recommended value).</summary>
    public TimeSpan DelayedAckTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Lifetime of our State Cookie (RFC 9260 Valid.Cookie.Life = 60 s).</summary>
    public TimeSpan CookieLifetime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Source of every random value the association draws: verification tags, initial TSNs, the State Cookie
    /// HMAC secret and HEARTBEAT nonces. Null (default) uses the system CSPRNG; tests pass a seeded deterministic
    /// generator so a run is reproducible. Production code must leave it null or pass a CSPRNG: predictable tags and
    /// cookie secrets let an off-path attacker inject packets or forge cookies.
    /// </summary>
    public RandomNumberGenerator? Random { get; init; }

    internal void Validate()
    {
        if (Mtu is < 256 or > 65_535)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "Mtu must be in 256..65535.");
        }
        if (MaxMessageSize < 1 || RemoteMaxMessageSize < 1)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "Message size limits must be positive.");
        }
        if (ReceiveWindow < MaxMessageSize + 65_536 && ReceiveWindow < int.MaxValue / 2)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "ReceiveWindow must be at least MaxMessageSize + 65536.");
        }
        if (OutboundStreams == 0 || InboundStreams == 0)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "Stream counts must be at least 1.");
        }
        if (RtoMin <= TimeSpan.Zero || RtoMax < RtoMin || RtoInitial < RtoMin)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "RTO bounds are inconsistent.");
        }
    }
}

/// <summary>How one user message is sent (RFC 8831 reliability: ordered, maxRetransmits, maxPacketLifeTime).</summary>
public readonly record struct SctpSendOptions
{
    /// <summary>False: unordered delivery (U bit).</summary>
    public bool Ordered { get; init; }

    /// <summary>PR-SCTP: abandon after this many retransmissions (null = reliable).</summary>
    public int? MaxRetransmits { get; init; }

    /// <summary>PR-SCTP: abandon once this long has passed since the send (null = reliable).</summary>
    public TimeSpan? MaxLifetime { get; init; }

    /// <summary>Reliable, ordered.</summary>
    public static SctpSendOptions Reliable => new() { Ordered = true };
}

/// <summary>Association states (RFC 9260 §4).</summary>
public enum SctpState
{
    /// <summary>No association (initial, or after SHUTDOWN/ABORT).</summary>
    Closed,
    /// <summary>INIT sent, waiting for INIT ACK.</summary>
    CookieWait,
    /// <summary>COOKIE ECHO sent, waiting for COOKIE ACK.</summary>
    CookieEchoed,
    /// <summary>Data can flow.</summary>
    Established,
    /// <summary>Shutdown requested locally; outstanding data is being delivered.</summary>
    ShutdownPending,
    /// <summary>SHUTDOWN sent.</summary>
    ShutdownSent,
    /// <summary>SHUTDOWN received; outstanding data is being delivered.</summary>
    ShutdownReceived,
    /// <summary>SHUTDOWN ACK sent.</summary>
    ShutdownAckSent,
}

/// <summary>What an <see cref="SctpEvent"/> reports.</summary>
public enum SctpEventKind
{
    /// <summary>The association reached <see cref="SctpState.Established"/>.</summary>
    Connected,
    /// <summary>A complete user message arrived: <see cref="SctpEvent.StreamId"/>, <see cref="SctpEvent.Ppid"/>, <see cref="SctpEvent.Data"/>.</summary>
    MessageReceived,
    /// <summary>The peer reset its outgoing stream <see cref="SctpEvent.StreamId"/> (our incoming side); RFC 6525.</summary>
    IncomingStreamReset,
    /// <summary>Our reset of outgoing stream <see cref="SctpEvent.StreamId"/> was performed by the peer.</summary>
    OutgoingStreamReset,
    /// <summary>The unsent bytes queued on <see cref="SctpEvent.StreamId"/> fell to or below its low threshold.</summary>
    BufferedAmountLow,
    /// <summary>The peer sent a message larger than <see cref="SctpOptions.MaxMessageSize"/> on <see cref="SctpEvent.StreamId"/>; it was discarded.</summary>
    MessageTooLarge,
    /// <summary>The association closed gracefully (SHUTDOWN) or by a local <see cref="SctpAssociation.Abort"/>.</summary>
    Closed,
    /// <summary>The peer aborted or the association failed; see <see cref="SctpEvent.Error"/> and <see cref="SctpEvent.Reason"/>.</summary>
    Aborted,
}

/// <summary>One event from <see cref="SctpAssociation.TryPollEvent"/>. <see cref="Data"/> is owned by the receiver.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="StreamId">The stream concerned (messages, resets, buffer events).</param>
/// <param name="Ppid">Payload protocol identifier of a received message.</param>
/// <param name="Data">The received message (exact length, never pooled).</param>
/// <param name="Unordered">True if the message was sent unordered.</param>
/// <param name="Error">For <see cref="SctpEventKind.Aborted"/>: why.</param>
/// <param name="Reason">For <see cref="SctpEventKind.Aborted"/>: a human-readable reason.</param>
public readonly record struct SctpEvent(SctpEventKind Kind, ushort StreamId = 0, uint Ppid = 0, byte[]? Data = null, bool Unordered = false,
    WebRtcError Error = WebRtcError.InternalError, string? Reason = null);
