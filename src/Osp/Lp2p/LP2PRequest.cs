using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;

namespace OspBridge.Osp.Lp2p;

/// <summary>Options of an <see cref="LP2PRequest"/> (WICG LP2P <c>LP2PRequestOptions</c> plus the host's hooks).</summary>
public sealed class LP2PRequestOptions
{
    /// <summary>The request's nickname (LP2P <c>nickname</c>), passed to the grant policy.</summary>
    public string? Nickname { get; init; }

    /// <summary>Our agent (identity, names, limits).</summary>
    public required OspAgentOptions Agent { get; init; }

    /// <summary>The peer to connect to, when the host already knows it (a discovered agent).</summary>
    public OspAgentInfo? Peer { get; init; }

    /// <summary>
    /// Otherwise: lets the user pick a peer (the user agent's picker: discovery results are shown to the user, never to
    /// the application). Called by <see cref="LP2PRequest.StartAsync"/> when <see cref="Peer"/> is null.
    /// </summary>
    public Func<CancellationToken, ValueTask<OspAgentInfo>>? SelectPeer { get; init; }

    /// <summary>Authenticates the connection (PIN pairing / trust store); see <see cref="LP2PAuthenticationHandler"/>.</summary>
    public LP2PAuthenticationHandler? Authenticate { get; init; }

    /// <summary>Decides whether the authenticated peer is handed to the application (default: allow all).</summary>
    public ILP2PGrantPolicy Grants { get; init; } = LP2PGrantPolicies.AllowAll;

    /// <summary>How long authentication, agent-info and the grant may take (default 120 s: a user may type a PIN).</summary>
    public TimeSpan SetupTimeout { get; init; } = TimeSpan.FromSeconds(120);
}

/// <summary>
/// The requesting side of LP2P (WICG LP2P <c>LP2PRequest</c>): <see cref="StartAsync"/> picks the peer (given or chosen
/// by the user), connects with its pinned fingerprint, authenticates through the hook, asks the grant policy and
/// returns the <see cref="LP2PConnection"/>.
/// </summary>
public sealed class LP2PRequest
{
    private readonly LP2PRequestOptions _options;

    /// <summary>Creates a request.</summary>
    public LP2PRequest(LP2PRequestOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary>The nickname.</summary>
    public string? Nickname => _options.Nickname;

    /// <summary>Connects, authenticates and checks the grant.</summary>
    /// <exception cref="OspException">No peer, connecting failed, authentication failed or the grant was refused (<see cref="OspError.Refused"/>).</exception>
    public async Task<LP2PConnection> StartAsync(CancellationToken cancellationToken = default)
    {
        OspAgentInfo peer = _options.Peer
            ?? (_options.SelectPeer is { } select ? await select(cancellationToken).ConfigureAwait(false) : null)
            ?? throw new OspException(OspError.ConnectionFailed, "LP2PRequest: no peer (set Peer or SelectPeer)");
        OspConnection connection = await OspConnection.ConnectAsync(peer, _options.Agent, cancellationToken).ConfigureAwait(false);
        return await LP2PConnection.EstablishAsync(connection, _options.Nickname, incoming: false, _options.Authenticate, _options.Grants,
            _options.SetupTimeout, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The LP2P shorthands (explainer, issue #35): one call per side for a QUIC transport.</summary>
public static class LP2P
{
    /// <summary>
    /// Starts a receiver and returns its transport listener (explainer <c>lp2p.makeDiscoverable</c>); disposing the
    /// listener stops the receiver. LP2P connections are kept open for the transports they authorize.
    /// </summary>
    public static async Task<LP2PQuicTransportListener> MakeDiscoverableAsync(LP2PReceiverOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var receiver = new LP2PReceiver(options.AcceptQuicTransports ? options : CopyWithTransports(options));
        try
        {
            await receiver.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await receiver.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new LP2PQuicTransportListener(receiver, ownsReceiver: true);
    }

    /// <summary>
    /// Runs an <see cref="LP2PRequest"/> and opens an <see cref="LP2PQuicTransport"/> on the resulting connection
    /// (explainer <c>lp2p.connect</c>); disposing the transport closes the LP2P connection too.
    /// </summary>
    public static async Task<LP2PQuicTransport> ConnectAsync(LP2PRequestOptions options, LP2PQuicTransportInit? init = null, CancellationToken cancellationToken = default)
    {
        LP2PConnection connection = await new LP2PRequest(options).StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var transport = await LP2PQuicTransport.ConnectAsync(connection, init, cancellationToken).ConfigureAwait(false);
            return new LP2PQuicTransport(transport, connection);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static LP2PReceiverOptions CopyWithTransports(LP2PReceiverOptions o) => new()
    {
        Nickname = o.Nickname,
        Agent = o.Agent,
        ListenEndPoint = o.ListenEndPoint,
        Mdns = o.Mdns,
        Authenticate = o.Authenticate,
        Grants = o.Grants,
        SetupTimeout = o.SetupTimeout,
        MaxPendingConnections = o.MaxPendingConnections,
        AcceptQuicTransports = true,
    };
}
