using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Agent;

/// <summary>What a local OSP agent presents to its peers.</summary>
public sealed class OspAgentOptions
{
    /// <summary>ALPN of the Open Screen Protocol (IANA registration pending, OSP issue #228).</summary>
    public const string Alpn = "osp";

    /// <summary>The agent's identity: certificate (mutual TLS), fingerprint and hostname.</summary>
    public required AgentIdentity Identity { get; init; }

    /// <summary>agent-info <c>display-name</c>.</summary>
    public required string DisplayName { get; init; }

    /// <summary>agent-info <c>model-name</c> (default: the identity's model name, the certificate issuer CN).</summary>
    public string? ModelName { get; init; }

    /// <summary>Capabilities announced in agent-info.</summary>
    public IReadOnlyList<AgentCapability> Capabilities { get; init; } = [AgentCapability.LanSignaling];

    /// <summary>agent-info <c>locales</c>.</summary>
    public IReadOnlyList<string> Locales { get; init; } = ["en"];

    /// <summary>Where connections log (dropped peers, failing handlers). Default: nowhere.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>QUIC idle timeout: a connection on which nothing arrives for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// On connections this agent opens: send a QUIC PING after this long without sending anything, so an idle session
    /// outlives <see cref="IdleTimeout"/> at both ends (the peer's ACKs reset its timer too). <see cref="TimeSpan.Zero"/>
    /// (default): none — an idle connection closes after the idle timeout. A bridge that holds sessions sets it.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; }

    /// <summary>Largest message body accepted on a stream.</summary>
    public int MaxMessageSize { get; init; } = 256 * 1024;

    /// <summary>Messages buffered for the application before the connection applies back-pressure.</summary>
    public int ReceiveQueueLimit { get; init; } = 1024;

    /// <summary>
    /// Most agent-info requests received whose response is not sent yet (the peer's outstanding requests). One
    /// more closes the connection with <see cref="OspConnection.TooManyRequestsErrorCode"/>: a peer that asks
    /// faster than it grants stream credit for the answers is flooding (default 32).
    /// </summary>
    public int MaxPendingReplies { get; init; } = 32;

    /// <summary>Messages queued for sending (application sends wait for room; replies over the limit close the connection). Default 256.</summary>
    public int MaxQueuedSends { get; init; } = 256;

    /// <summary>Decoded inbound messages queued for the connection's loop; stream readers wait for room (default 256).</summary>
    public int MaxQueuedInboundMessages { get; init; } = 256;

    /// <summary>
    /// How long a send may wait for stream credit or flow-control credit from the peer, and how long a partly
    /// received message may stay incomplete, before the connection is closed with
    /// <see cref="OspConnection.StalledErrorCode"/> (default 10 s).
    /// </summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// With <see cref="RequireAuthentication"/>: most messages (agent-info and auth-*) an unauthenticated peer may
    /// send; one more closes the connection with <see cref="OspConnection.TooManyRequestsErrorCode"/> (default 256).
    /// </summary>
    public int MaxMessagesBeforeAuthentication { get; init; } = 256;

    /// <summary>Largest message body accepted on a stream opened before authentication (default 16 KiB; auth and agent-info messages are small).</summary>
    public int MaxMessageSizeBeforeAuthentication { get; init; } = 16 * 1024;

    /// <summary>Unidirectional (message) streams the peer may have open at once: QUIC <c>initial_max_streams_uni</c> (default 100).</summary>
    public int MaxInboundMessageStreams { get; init; } = 100;

    /// <summary>LP2P data channels (bidirectional streams) the peer may have open at once: QUIC <c>initial_max_streams_bidi</c> (default 100).</summary>
    public int MaxDataChannels { get; init; } = 100;

    /// <summary>Largest message on an LP2P data channel, in bytes (default 256 KiB).</summary>
    public int DataChannelMaxMessageSize { get; init; } = 256 * 1024;

    /// <summary>Bytes an LP2P data channel queues for sending before <c>SendAsync</c> waits (its <c>BufferedAmount</c> bound; default 1 MiB).</summary>
    public int DataChannelSendBufferLimit { get; init; } = 1 << 20;

    /// <summary>Received messages an LP2P data channel keeps for <c>ReceiveAsync</c>; when full the channel stops reading and QUIC flow control holds the peer back (default 64).</summary>
    public int DataChannelReceiveQueueLimit { get; init; } = 64;

    /// <summary>How long opening an LP2P data channel waits for the peer's data-channel-open-response (default 10 s).</summary>
    public TimeSpan DataChannelOpenTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// With <see cref="RequireAuthentication"/>: how long a data-channel-open-request from a peer that is not
    /// authenticated yet is held (QUIC does not order streams, so it may overtake the authentication messages it
    /// follows) before the connection is closed with <see cref="OspConnection.NotAuthenticatedErrorCode"/> (default 5 s).
    /// </summary>
    public TimeSpan AuthenticationGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Listener only: validate every client address with a QUIC Retry round trip before any handshake state is
    /// kept (default true; costs one round trip per connection). When false, Retry is still required while many
    /// handshakes are pending (<see cref="MaxPendingHandshakes"/> / 2).
    /// </summary>
    public bool UseRetry { get; init; } = true;

    /// <summary>Listener only: most handshakes in progress at once; more clients wait (default 64).</summary>
    public int MaxPendingHandshakes { get; init; } = 64;

    /// <summary>
    /// When true, a connection processes only agent-info (request, response, event) and auth-* messages until it
    /// is authenticated; any other message closes it with <see cref="OspConnection.NotAuthenticatedErrorCode"/>
    /// (OSP network spec: "before authentication only agent-info and auth-* messages are processed").
    /// LP2P data channels are refused on a connection that is not authenticated. On by default: only the
    /// authentication layer (PIN pairing with SPAKE2, or a trusted peer's certificate — <c>OspPairingSession</c>)
    /// can open the gate (<c>OspConnection.MarkAuthenticated</c>). Turn it off only for a closed setting such as an
    /// in-process demo or a test that exercises the transport alone.
    /// </summary>
    public bool RequireAuthentication { get; init; } = true;

    /// <summary>
    /// A private agent's name for peers that have not authenticated (docs/trust.md "Private instance names"): when set,
    /// agent-info answered before authentication carries this neutral name (the random instance name) and only an
    /// authenticated peer gets <see cref="DisplayName"/>. Null (default): everybody gets <see cref="DisplayName"/>.
    /// The gate is real authentication (<c>OspConnection.MarkAuthenticated</c>), also when
    /// <see cref="RequireAuthentication"/> is off.
    /// </summary>
    public string? DisplayNameBeforeAuthentication { get; init; }

    internal AgentInfo BuildAgentInfo(string stateToken, bool authenticated = true) => new()
    {
        DisplayName = authenticated || DisplayNameBeforeAuthentication is null ? DisplayName : DisplayNameBeforeAuthentication,
        ModelName = ModelName ?? Identity.ModelName,
        Capabilities = Capabilities,
        StateToken = stateToken,
        Locales = Locales,
    };
}
