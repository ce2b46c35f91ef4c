using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;

namespace OspBridge.Osp.Lp2p;

/// <summary>Options of an <see cref="LP2PReceiver"/> (WICG LP2P <c>LP2PReceiverOptions</c> plus the host's hooks).</summary>
public sealed class LP2PReceiverOptions
{
    /// <summary>The receiver's nickname (LP2P <c>nickname</c>), passed to the grant policy.</summary>
    public string? Nickname { get; init; }

    /// <summary>Our agent (identity, names, limits).</summary>
    public required OspAgentOptions Agent { get; init; }

    /// <summary>Where to listen (default: every IPv4 address, ephemeral port).</summary>
    public IPEndPoint ListenEndPoint { get; init; } = new(IPAddress.Any, 0);

    /// <summary>When set, the receiver advertises itself with this mDNS service (not owned); null: no advertising (tests, known addresses).</summary>
    public MdnsService? Mdns { get; init; }

    /// <summary>Authenticates each incoming connection (PIN pairing / trust store); see <see cref="LP2PAuthenticationHandler"/>.</summary>
    public LP2PAuthenticationHandler? Authenticate { get; init; }

    /// <summary>Decides whether an authenticated peer is handed to the application (default: allow all).</summary>
    public ILP2PGrantPolicy Grants { get; init; } = LP2PGrantPolicies.AllowAll;

    /// <summary>How long authentication, agent-info and the grant may take per connection (default 120 s: a user may type a PIN).</summary>
    public TimeSpan SetupTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Connections being set up at once; more are closed at once with <see cref="OspConnection.TooManyRequestsErrorCode"/> (default 16).</summary>
    public int MaxPendingConnections { get; init; } = 16;

    /// <summary>Also accept LP2PQuicTransport connections (ALPN <c>q2q</c>) on the same port (default true).</summary>
    public bool AcceptQuicTransports { get; init; } = true;
}

/// <summary>
/// The receiving side of LP2P (WICG LP2P <c>LP2PReceiver</c>): listens (and advertises with mDNS when configured),
/// authenticates each incoming OSP connection through the authentication hook, asks the grant policy, and hands the
/// resulting <see cref="LP2PConnection"/>s to the application — through <see cref="OnConnection"/> or
/// <see cref="AcceptConnectionAsync"/> / <see cref="AcceptConnectionsAsync"/> (one consumer: subscribing to the event
/// makes it the consumer).
/// </summary>
public sealed class LP2PReceiver : IAsyncDisposable
{
    private readonly LP2PReceiverOptions _options;
    private readonly Channel<LP2PConnection> _connections;
    private readonly ConcurrentDictionary<string, int> _grantedPeers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _setups = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _cts = new();
    private OspAgentListener? _listener;
    private OspAgentAdvertiser? _advertiser;
    private Task _acceptLoop = Task.CompletedTask;
    private readonly IncomingQueue<LP2PConnection> _incoming;
    private int _pending;

    /// <summary>Creates a receiver; <see cref="StartAsync"/> starts it.</summary>
    public LP2PReceiver(LP2PReceiverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _connections = Channel.CreateBounded<LP2PConnection>(new BoundedChannelOptions(Math.Max(1, options.MaxPendingConnections)) { SingleWriter = false });
        _incoming = new IncomingQueue<LP2PConnection>(_connections.Reader);
    }

    /// <summary>The nickname.</summary>
    public string? Nickname => _options.Nickname;

    /// <summary>The bound address (after <see cref="StartAsync"/>).</summary>
    public IPEndPoint LocalEndPoint => (_listener ?? throw new InvalidOperationException("the receiver is not started")).LocalEndPoint;

    /// <summary>Completes once the receiver listens (and advertises).</summary>
    public Task Ready => _ready.Task;

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>An authenticated, granted connection (LP2P <c>onconnection</c>); subscribing makes the event the consumer. Raised on a pool thread.</summary>
    public event Action<LP2PConnection>? OnConnection
    {
        add => _incoming.Subscribe(value);
        remove => _incoming.Unsubscribe(value);
    }

    /// <summary>Starts listening (and advertising when <see cref="LP2PReceiverOptions.Mdns"/> is set).</summary>
    /// <exception cref="OspException">The listener could not start.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_listener is not null) return;
        _listener = await OspAgentListener.StartAsync(_options.ListenEndPoint, _options.Agent, _options.AcceptQuicTransports, cancellationToken).ConfigureAwait(false);
        if (_options.Mdns is { } mdns)
        {
            _advertiser = await OspAgentAdvertiser.StartAsync(mdns, _options.Agent.Identity, (ushort)_listener.LocalEndPoint.Port, 1, _options.Agent.Logger, cancellationToken).ConfigureAwait(false);
        }

        _acceptLoop = AcceptLoopAsync();
        _ready.TrySetResult();
    }

    /// <summary>The next connection; null once the receiver is disposed.</summary>
    public ValueTask<LP2PConnection?> AcceptConnectionAsync(CancellationToken cancellationToken = default) => _incoming.NextAsync(cancellationToken);

    /// <summary>Incoming connections until the receiver is disposed.</summary>
    public IAsyncEnumerable<LP2PConnection> AcceptConnectionsAsync(CancellationToken cancellationToken = default) => _incoming.AllAsync(cancellationToken);

    /// <summary>
    /// The next LP2PQuicTransport from a peer that has an open, authenticated and granted LP2P connection to this
    /// receiver (others are closed with <see cref="OspConnection.NotAuthenticatedErrorCode"/>).
    /// </summary>
    internal async ValueTask<LP2PQuicTransport> AcceptQuicTransportAsync(CancellationToken cancellationToken)
    {
        var listener = _listener ?? throw new InvalidOperationException("the receiver is not started");
        while (true)
        {
            var (quic, fingerprint) = await listener.AcceptQuicTransportAsync(cancellationToken).ConfigureAwait(false);
            if (!_grantedPeers.ContainsKey(fingerprint) && _setups.TryGetValue(fingerprint, out Task? setup))
            {
                // The peer's side of the LP2P connection may finish before ours (our grant may be waiting for the user).
                await setup.WaitAsync(_options.SetupTimeout, cancellationToken).ContinueWith(static _ => { }, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }

            if (_grantedPeers.ContainsKey(fingerprint))
            {
                return new LP2PQuicTransport(quic, fingerprint);
            }

            try
            {
                await quic.CloseAsync(OspConnection.NotAuthenticatedErrorCode, cancellationToken).ConfigureAwait(false);
            }
            catch (Quic.QuicException)
            {
            }

            await quic.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        var listener = _listener!;
        try
        {
            while (true)
            {
                OspConnection connection = await listener.AcceptAsync(_cts.Token).ConfigureAwait(false);
                if (Interlocked.Increment(ref _pending) > _options.MaxPendingConnections)
                {
                    Interlocked.Decrement(ref _pending);
                    await connection.CloseAsync(OspConnection.TooManyRequestsErrorCode, CancellationToken.None).ConfigureAwait(false);
                    await connection.DisposeAsync().ConfigureAwait(false);
                    continue;
                }

                _ = SetUpAsync(connection);
            }
        }
        catch (Exception ex) when (ex is OspException or OperationCanceledException or ObjectDisposedException)
        {
            _connections.Writer.TryComplete();
        }
    }

    private async Task SetUpAsync(OspConnection connection)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _setups[connection.RemoteFingerprint] = done.Task;
        try
        {
            var lp2p = await LP2PConnection.EstablishAsync(connection, _options.Nickname, incoming: true, _options.Authenticate, _options.Grants,
                _options.SetupTimeout, _cts.Token).ConfigureAwait(false);
            string fp = lp2p.RemoteFingerprint;
            _grantedPeers.AddOrUpdate(fp, 1, static (_, n) => n + 1);
            _ = lp2p.Closed.ContinueWith(_ =>
            {
                if (_grantedPeers.AddOrUpdate(fp, 0, static (_, n) => n - 1) <= 0) _grantedPeers.TryRemove(new KeyValuePair<string, int>(fp, 0));
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (!_connections.Writer.TryWrite(lp2p))
            {
                await lp2p.Connection.CloseAsync(OspConnection.TooManyRequestsErrorCode, CancellationToken.None).ConfigureAwait(false);
                await lp2p.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OspException or OperationCanceledException or ObjectDisposedException)
        {
            LogSetupFailed(_options.Agent.Logger, connection.RemoteFingerprint, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
            _setups.TryRemove(new KeyValuePair<string, Task>(connection.RemoteFingerprint, done.Task));
            done.TrySetResult();
        }
    }

    /// <summary>Stops advertising and listening; connections already handed out stay open.</summary>
    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        if (_advertiser is not null) await _advertiser.DisposeAsync().ConfigureAwait(false);
        if (_listener is not null) await _listener.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _connections.Writer.TryComplete();
        _cts.Dispose();
    }

    private static readonly Action<ILogger, string, Exception?> LogSetupFailed =
        LoggerMessage.Define<string>(LogLevel.Information, new EventId(10, "Lp2pSetupFailed"), "LP2P: connection from {Fingerprint} refused");
}

/// <summary>
/// Accepts LP2PQuicTransports on a receiver (WICG LP2P <c>LP2PQuicTransportListener</c>): dedicated QUIC connections
/// with ALPN <c>q2q</c> on the receiver's port, from peers that hold an authenticated, granted LP2P connection to it.
/// </summary>
public sealed class LP2PQuicTransportListener : IAsyncDisposable
{
    private readonly LP2PReceiver _receiver;
    private readonly bool _ownsReceiver;

    /// <summary>Listens for transports on <paramref name="receiver"/> (started by <see cref="LP2PReceiver.StartAsync"/>, with <see cref="LP2PReceiverOptions.AcceptQuicTransports"/>).</summary>
    public LP2PQuicTransportListener(LP2PReceiver receiver)
        : this(receiver, ownsReceiver: false)
    {
    }

    internal LP2PQuicTransportListener(LP2PReceiver receiver, bool ownsReceiver)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        _receiver = receiver;
        _ownsReceiver = ownsReceiver;
    }

    /// <summary>The receiver.</summary>
    public LP2PReceiver Receiver => _receiver;

    /// <summary>Completes once the receiver listens.</summary>
    public Task Ready => _receiver.Ready;

    /// <summary>The next incoming transport.</summary>
    /// <exception cref="OspException">The receiver was disposed (<see cref="OspError.Closed"/>).</exception>
    public ValueTask<LP2PQuicTransport> AcceptTransportAsync(CancellationToken cancellationToken = default) => _receiver.AcceptQuicTransportAsync(cancellationToken);

    /// <summary>Incoming transports (LP2P <c>incomingTransports</c>) until the receiver is disposed.</summary>
    public async IAsyncEnumerable<LP2PQuicTransport> IncomingTransportsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            LP2PQuicTransport transport;
            try
            {
                transport = await AcceptTransportAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OspException e) when (e.Error == OspError.Closed)
            {
                yield break;
            }

            yield return transport;
        }
    }

    /// <summary>Disposes the receiver when this listener created it (<see cref="LP2P.MakeDiscoverableAsync"/>).</summary>
    public ValueTask DisposeAsync() => _ownsReceiver ? _receiver.DisposeAsync() : ValueTask.CompletedTask;
}
