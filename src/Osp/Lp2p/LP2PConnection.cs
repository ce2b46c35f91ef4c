using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Lp2p;

/// <summary>
/// An LP2P session (WICG Local Peer-to-Peer API <c>LP2PConnection</c>): an authenticated OSP connection that the
/// user granted to the application. It opens data channels (<see cref="CreateDataChannelAsync"/>) and receives the
/// peer's (<see cref="AcceptDataChannelAsync"/>, <see cref="AcceptDataChannelsAsync"/> or <see cref="OnDataChannel"/>).
/// Obtained from <see cref="LP2PReceiver"/> (incoming) or <see cref="LP2PRequest.StartAsync"/> (outgoing).
/// </summary>
/// <remarks>
/// Incoming channels have one consumer: subscribing to <see cref="OnDataChannel"/> makes the event the consumer (from
/// then on, channels are raised and not queued for <see cref="AcceptDataChannelAsync"/>); until then they wait in a
/// queue bounded by <see cref="OspAgentOptions.MaxDataChannels"/> — when it is full, further open requests are refused
/// with <c>transient-error</c>.
/// </remarks>
public sealed class LP2PConnection : IAsyncDisposable
{
    private readonly IncomingQueue<LP2PDataChannel> _incoming;

    internal LP2PConnection(OspConnection connection, string? nickname, AgentInfo? peerInfo)
    {
        Connection = connection;
        Nickname = nickname;
        PeerInfo = peerInfo;
        _incoming = new IncomingQueue<LP2PDataChannel>(connection.IncomingDataChannels);
    }

    /// <summary>The underlying OSP connection.</summary>
    public OspConnection Connection { get; }

    /// <summary>The nickname of the receiver or request this connection came from.</summary>
    public string? Nickname { get; }

    /// <summary>The peer's agent-info, as fetched while the connection was set up (null if it did not answer).</summary>
    public AgentInfo? PeerInfo { get; }

    /// <summary>The peer's agent fingerprint.</summary>
    public string RemoteFingerprint => Connection.RemoteFingerprint;

    /// <summary>Completes with the close code when the connection closes.</summary>
    public Task<long> Closed => Connection.Closed;

    /// <summary>
    /// A data channel opened by the peer (LP2P <c>ondatachannel</c>). Subscribing makes this event the consumer of
    /// incoming channels (see the remarks on the type). Raised on a pool thread.
    /// </summary>
    public event Action<LP2PDataChannel>? OnDataChannel
    {
        add => _incoming.Subscribe(value);
        remove => _incoming.Unsubscribe(value);
    }

    /// <summary>
    /// Opens a data channel (LP2P <c>createDataChannel</c>): a new bidirectional stream, data-channel-open-request,
    /// and the peer's response. Completes when the channel is open.
    /// </summary>
    /// <param name="label">The channel's label.</param>
    /// <param name="init">Protocol and id (optional).</param>
    /// <param name="cancellationToken">Gives up waiting (the stream is then reset).</param>
    /// <exception cref="OspException"><see cref="OspError.Refused"/> when the connection is not authenticated or the peer
    /// refused; <see cref="OspError.Timeout"/> without an answer within <see cref="OspAgentOptions.DataChannelOpenTimeout"/>;
    /// the close reason when the connection closes.</exception>
    public Task<LP2PDataChannel> CreateDataChannelAsync(string label, LP2PDataChannelInit? init = null, CancellationToken cancellationToken = default) =>
        LP2PDataChannel.OpenAsync(Connection, label, init, cancellationToken);

    /// <summary>The next data channel the peer opened; null once the connection is closed.</summary>
    public ValueTask<LP2PDataChannel?> AcceptDataChannelAsync(CancellationToken cancellationToken = default) => _incoming.NextAsync(cancellationToken);

    /// <summary>The data channels the peer opens, until the connection closes.</summary>
    public IAsyncEnumerable<LP2PDataChannel> AcceptDataChannelsAsync(CancellationToken cancellationToken = default) => _incoming.AllAsync(cancellationToken);

    /// <summary>Closes the connection (and with it every channel).</summary>
    public ValueTask CloseAsync(CancellationToken cancellationToken = default) => Connection.CloseAsync(OspConnection.NoErrorCode, cancellationToken);

    /// <summary>Closes and releases the connection.</summary>
    public ValueTask DisposeAsync() => Connection.DisposeAsync();

    /// <inheritdoc/>
    public override string ToString() => $"LP2PConnection {RemoteFingerprint} ({Connection.RemoteEndPoint})";

    /// <summary>
    /// Authenticates (hook), checks the grant (hook) and fetches the peer's agent-info; closes the connection and
    /// throws when any step fails.
    /// </summary>
    internal static async Task<LP2PConnection> EstablishAsync(OspConnection connection, string? nickname, bool incoming,
        LP2PAuthenticationHandler? authenticate, ILP2PGrantPolicy grants, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            if (authenticate is not null)
            {
                await authenticate(connection, limit.Token).ConfigureAwait(false);
            }

            if (!connection.IsAuthenticated)
            {
                throw new OspException(OspError.Refused, $"LP2P: the connection to {connection.RemoteEndPoint} is not authenticated", null, OspConnection.NotAuthenticatedErrorCode);
            }

            AgentInfo? info = null;
            try
            {
                info = await connection.RequestAgentInfoAsync(timeout, limit.Token).ConfigureAwait(false);
            }
            catch (OspException e) when (e.Error == OspError.Timeout || (incoming && e.Error == OspError.Closed))
            {
                // Informational only. On the receiving side the peer may already have closed after its own set-up (a
                // `pair` command exits right after authenticating): the grant step still runs, so the pairing's grant is
                // recorded and the host sees the (closed) connection — not a failed set-up.
            }

            if (!await grants.RequestGrantAsync(new LP2PGrantRequest(nickname, connection.RemoteFingerprint, info?.DisplayName, incoming), limit.Token).ConfigureAwait(false))
            {
                throw new OspException(OspError.Refused, $"LP2P: no grant for peer {connection.RemoteFingerprint}", null, OspConnection.NotAuthenticatedErrorCode);
            }

            return new LP2PConnection(connection, nickname, info);
        }
        catch (Exception ex)
        {
            await connection.CloseAsync(ex is OspException { ApplicationErrorCode: { } code } ? code : OspConnection.NotAuthenticatedErrorCode, CancellationToken.None).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new OspException(OspError.Timeout, $"LP2P: setting up the connection to {connection.RemoteEndPoint} took longer than {timeout.TotalSeconds:0.#} s", ex);
            }

            throw;
        }
    }
}
