using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>
/// An Open Screen Protocol connection between two agents: QUIC + TLS 1.3 with ALPN <c>osp</c>, mutual
/// authentication with agent certificates, zero-length connection IDs, and OSP messages (QUIC varint type
/// key + CBOR body), each sent on its own unidirectional stream. agent-info requests are answered here;
/// every other message is delivered through <see cref="ReceiveAsync"/> or a <see cref="WaitForAsync{T}"/> waiter.
/// </summary>
/// <remarks>
/// The client pins the server's agent fingerprint (from the mDNS TXT <c>fp</c>); the server learns the
/// client's fingerprint from its certificate. PIN authentication (SPAKE2) is not implemented yet, so a
/// connection proves possession of the pinned key, not that a user approved the peer.
/// Failures surface as <see cref="OspException"/> (the transport's exception is its inner exception);
/// cancellation raises <see cref="OperationCanceledException"/>.
/// </remarks>
public sealed class OspConnection : IAsyncDisposable
{
    /// <summary>Application error code for "no error" closes.</summary>
    public const long NoErrorCode = 0;

    /// <summary>Application error code for a malformed or oversized message (ours; the spec defines only 404 and 5139).</summary>
    public const long ProtocolErrorCode = 400;

    /// <summary>
    /// Application error code for a message other than agent-info or auth-* before authentication, when
    /// <see cref="OspAgentOptions.RequireAuthentication"/> is on (ours, like 400).
    /// </summary>
    public const long NotAuthenticatedErrorCode = 401;

    private readonly QuicConnection _quic;
    private readonly OspAgentOptions _options;
    private readonly MessageDemuxer _demuxer;
    private readonly Lock _demuxLock = new();
    private readonly Channel<IOspMessage> _inbox;
    private readonly List<Waiter> _waiters = [];
    private readonly List<Subscription> _subscriptions = [];
    private readonly List<IOspMessage> _earlyAuth = []; // auth-* that arrived before the authentication layer subscribed
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _acceptLoop;
    private readonly TaskCompletionSource<long> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private const int EarlyAuthLimit = 8;
    private long _nextRequestId;
    private volatile bool _authenticated;

    private OspConnection(QuicConnection quic, OspAgentOptions options, string remoteFingerprint)
    {
        _quic = quic;
        _options = options;
        RemoteFingerprint = remoteFingerprint;
        _inbox = Channel.CreateBounded<IOspMessage>(new BoundedChannelOptions(options.ReceiveQueueLimit) { SingleReader = false, SingleWriter = false });
        _demuxer = new MessageDemuxer(new MessageDemuxerOptions { MaxMessageSize = options.MaxMessageSize });
        _demuxer.RegisterAll(OnMessage);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The peer's agent fingerprint (base64 SHA-256 of its certificate's SubjectPublicKeyInfo).</summary>
    public string RemoteFingerprint { get; }

    /// <summary>The peer's address.</summary>
    public IPEndPoint RemoteEndPoint => _quic.RemoteEndPoint;

    /// <summary>Our local address.</summary>
    public IPEndPoint LocalEndPoint => _quic.LocalEndPoint;

    /// <summary>
    /// True once the connection is authenticated (always true unless <see cref="OspAgentOptions.RequireAuthentication"/>
    /// is on; PIN authentication, which will set it, is not implemented yet).
    /// </summary>
    public bool IsAuthenticated => _authenticated || !_options.RequireAuthentication;

    /// <summary>Marks the connection authenticated (for the authentication layer, once SPAKE2 succeeded).</summary>
    internal void MarkAuthenticated() => _authenticated = true;

    /// <summary>Whether a message may be processed before authentication: agent-info and auth-* only.</summary>
    internal static bool IsAllowedBeforeAuthentication(ulong typeKey) => typeKey is
        OspTypeKeys.AgentInfoRequest or OspTypeKeys.AgentInfoResponse or OspTypeKeys.AgentInfoEvent or
        OspTypeKeys.AuthCapabilities or OspTypeKeys.AuthSpake2Confirmation or OspTypeKeys.AuthStatus or OspTypeKeys.AuthSpake2Handshake;

    /// <summary>Completes with the application error code when the connection closes for any reason.</summary>
    public Task<long> Closed => _closed.Task;

    /// <summary>
    /// Connects to an agent found by discovery (<see cref="OspAgentBrowser"/>): SNI is its SRV target (the agent
    /// hostname), the server's fingerprint is pinned to its TXT <c>fp</c>, and its addresses are tried in turn
    /// (IPv4 first) until one answers. A fingerprint mismatch stops at once: a different key at one address is
    /// not a reason to try the next.
    /// </summary>
    /// <param name="agent">The discovered agent.</param>
    /// <param name="options">Our agent.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <exception cref="OspException">No address answered (<see cref="OspError.ConnectionFailed"/>, <see cref="OspError.Timeout"/>,
    /// <see cref="OspError.Refused"/>), or the agent presented another key (<see cref="OspError.FingerprintMismatch"/>).</exception>
    public static async Task<OspConnection> ConnectAsync(OspAgentInfo agent, OspAgentOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        if (agent.Addresses.Count == 0)
        {
            throw new OspException(OspError.ConnectionFailed, $"agent '{agent.DisplayName}' ({agent.HostName}) has no known address");
        }

        string hostname = agent.HostName.TrimEnd('.');
        OspException? last = null;
        foreach (IPAddress address in agent.Addresses.OrderBy(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 0 : 1))
        {
            try
            {
                return await ConnectAsync(new IPEndPoint(address, agent.Port), hostname, agent.Txt.Fingerprint, options, cancellationToken).ConfigureAwait(false);
            }
            catch (OspException e) when (e.Error is OspError.ConnectionFailed or OspError.Timeout or OspError.Refused)
            {
                last = e;
            }
        }

        throw last!;
    }

    /// <summary>
    /// Connects to an advertising agent and pins its fingerprint.
    /// </summary>
    /// <param name="remote">The agent's QUIC address (SRV target resolved + port).</param>
    /// <param name="agentHostname">SNI: the agent hostname (<c>&lt;b64url serial&gt;.&lt;instance&gt;.local</c>).</param>
    /// <param name="expectedFingerprint">The TXT <c>fp</c> value; the handshake fails unless the server's SPKI matches.</param>
    /// <param name="options">Our agent.</param>
    /// <param name="cancellationToken">Cancels the handshake.</param>
    /// <exception cref="OspException">The handshake failed (<see cref="OspError.FingerprintMismatch"/> when the server's key is not the pinned one).</exception>
    public static async Task<OspConnection> ConnectAsync(IPEndPoint remote, string agentHostname, string expectedFingerprint,
        OspAgentOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        string? seen = null;
        var quicOptions = new QuicClientConnectionOptions
        {
            RemoteEndPoint = remote,
            ConnectionIdLength = 0,
            IdleTimeout = options.IdleTimeout,
            MaxInboundBidirectionalStreams = 16,
            MaxInboundUnidirectionalStreams = 100,
            DefaultCloseErrorCode = NoErrorCode,
            DefaultStreamErrorCode = NoErrorCode,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol(OspAgentOptions.Alpn)],
                TargetHost = agentHostname,
                ClientCertificates = [options.Identity.Certificate],
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    if (cert is not X509Certificate2 c2) return false;
                    seen = AgentIdentity.ComputeFingerprint(c2);
                    return string.Equals(seen, expectedFingerprint, StringComparison.Ordinal);
                },
            },
        };
        QuicConnection quic;
        try
        {
            quic = await QuicConnection.ConnectAsync(quicOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex) when (seen is not null && seen != expectedFingerprint)
        {
            throw new OspException(OspError.FingerprintMismatch,
                $"agent at {remote} presented fingerprint {seen}, expected {expectedFingerprint}", ex);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, $"connecting to agent at {remote}", cancellationToken);
        }
        return new OspConnection(quic, options, seen ?? expectedFingerprint);
    }

    internal static OspConnection FromAccepted(QuicConnection quic, OspAgentOptions options)
    {
        var cert = quic.RemoteCertificate as X509Certificate2
            ?? throw new OspException(OspError.ProtocolError, "OSP peer sent no agent certificate");
        return new OspConnection(quic, options, AgentIdentity.ComputeFingerprint(cert));
    }

    /// <summary>A fresh request id for this connection.</summary>
    public ulong NextRequestId() => (ulong)Interlocked.Increment(ref _nextRequestId);

    /// <summary>Sends one message on a new unidirectional stream.</summary>
    /// <exception cref="OspException">The connection is closed or broke (<see cref="OspError.Closed"/>, …).</exception>
    public async ValueTask SendAsync(IOspMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var frame = OspFraming.Frame(message);
        try
        {
            var stream = await _quic.OpenOutboundStreamAsync(QuicStreamType.Unidirectional, cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(frame, completeWrites: true, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, $"sending {message.Name} to {RemoteEndPoint}", cancellationToken);
        }
        catch (ObjectDisposedException ex)
        {
            throw new OspException(OspError.Closed, $"sending {message.Name}: the connection is closed", ex);
        }
    }

    /// <summary>Receives the next message not consumed by a waiter; null once the connection is closed.</summary>
    public async ValueTask<IOspMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (await _inbox.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_inbox.Reader.TryRead(out var m)) return m;
        }
        return null;
    }

    /// <summary>Waits for the first message of type <typeparamref name="T"/> that matches <paramref name="match"/> (arriving after this call).</summary>
    /// <exception cref="OspException"><see cref="OspError.Timeout"/> when nothing matched within <paramref name="timeout"/>;
    /// <see cref="OspError.Closed"/> (or the close reason) when the connection closes first.</exception>
    public async Task<T> WaitForAsync<T>(Func<T, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
        where T : class, IOspMessage
    {
        ArgumentNullException.ThrowIfNull(match);
        var waiter = new Waiter(m => m is T t && match(t));
        lock (_waiters)
        {
            if (_closed.Task.IsCompleted)
            {
                throw ClosedException(_closed.Task.Result, $"waiting for {typeof(T).Name}");
            }

            _waiters.Add(waiter);
        }
        try
        {
            var completed = await waiter.Completion.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return (T)completed;
        }
        catch (TimeoutException ex)
        {
            throw new OspException(OspError.Timeout, $"no {typeof(T).Name} from {RemoteEndPoint} within {timeout.TotalSeconds:0.#} s", ex);
        }
        finally
        {
            lock (_waiters) _waiters.Remove(waiter);
        }
    }

    /// <summary>
    /// Routes every incoming message of type <typeparamref name="T"/> to <paramref name="handler"/> (before
    /// waiters and <see cref="ReceiveAsync"/>) until the returned subscription is disposed. The handler runs on
    /// the connection's receive path: it must be quick and must not block (post to a channel, complete a task).
    /// </summary>
    /// <exception cref="InvalidOperationException">Another subscription for <typeparamref name="T"/> exists.</exception>
    public IDisposable Subscribe<T>(Action<T> handler)
        where T : class, IOspMessage
    {
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = new Subscription(this, typeof(T), m => handler((T)m));
        List<IOspMessage> early;
        lock (_waiters)
        {
            if (_subscriptions.Exists(s => s.Type == typeof(T)))
            {
                throw new InvalidOperationException($"{typeof(T).Name} messages already have a subscriber on this connection.");
            }

            _subscriptions.Add(subscription);
            early = _earlyAuth.FindAll(m => m.GetType() == typeof(T));
            _earlyAuth.RemoveAll(m => m.GetType() == typeof(T));
        }

        foreach (IOspMessage m in early)
        {
            subscription.Handler(m);
        }

        return subscription;
    }

    /// <summary>Asks the peer for its agent-info (request/response with a fresh request id).</summary>
    /// <exception cref="OspException">No answer in time, or the connection closed.</exception>
    public async Task<AgentInfo> RequestAgentInfoAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ulong id = NextRequestId();
        var response = WaitForAsync<AgentInfoResponse>(r => r.RequestId == id, timeout, cancellationToken);
        await SendAsync(new AgentInfoRequest { RequestId = id }, cancellationToken).ConfigureAwait(false);
        return (await response.ConfigureAwait(false)).AgentInfo;
    }

    /// <summary>Closes the connection with an application error code.</summary>
    /// <param name="errorCode">The QUIC application error code (0: no error; 404 unknown type; 400 protocol error).</param>
    /// <param name="cancellationToken">Stops waiting for the transport to finish closing (the close itself is not undone).</param>
    public async ValueTask CloseAsync(long errorCode = NoErrorCode, CancellationToken cancellationToken = default)
    {
        MarkClosed(errorCode);
        await _cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await _quic.CloseAsync(errorCode, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException)
        {
        }
    }

    private void MarkClosed(long errorCode)
    {
        Waiter[] pending;
        lock (_waiters)
        {
            _closed.TrySetResult(errorCode);
            pending = [.. _waiters];
        }

        long code = _closed.Task.Result;
        foreach (Waiter waiter in pending)
        {
            waiter.Completion.TrySetException(ClosedException(code, "waiting for a message"));
        }

        _inbox.Writer.TryComplete();
    }

    private OspException ClosedException(long code, string what) =>
        new(OspErrors.FromCloseCode(code), $"{what}: the connection to {RemoteEndPoint} is closed (application error {code})", null, code);

    /// <summary>Closes (no error) and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _quic.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var stream = await _quic.AcceptInboundStreamAsync(_cts.Token).ConfigureAwait(false);
                _ = Task.Run(() => ReadStreamAsync(stream));
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            MarkClosed(ex is QuicException { ApplicationErrorCode: { } code } ? code : NoErrorCode);
        }
    }

    private async Task ReadStreamAsync(QuicStream stream)
    {
        var demux = _demuxer.CreateStream();
        var buffer = new byte[16 * 1024];
        try
        {
            await using (stream.ConfigureAwait(false))
            {
                while (true)
                {
                    int n = await stream.ReadAsync(buffer, _cts.Token).ConfigureAwait(false);
                    DemuxResult result;
                    lock (_demuxLock) result = n == 0 ? demux.Complete() : demux.Push(buffer.AsMemory(0, n));
                    if (!result.IsOk)
                    {
                        await CloseAsync(result.Status == DemuxStatus.UnknownTypeKey ? OspFraming.UnknownTypeKeyErrorCode : ProtocolErrorCode).ConfigureAwait(false);
                        return;
                    }
                    if (n == 0) return;
                }
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            // The stream or the connection went away; the accept loop reports the close.
        }
    }

    private void OnMessage(IOspMessage message)
    {
        if (!IsAuthenticated && !IsAllowedBeforeAuthentication(message.TypeKey))
        {
            // Not processed: not answered, not delivered, not matched.
            _ = CloseAsync(NotAuthenticatedErrorCode).AsTask();
            return;
        }

        if (message is AgentInfoRequest request)
        {
            var response = new AgentInfoResponse { RequestId = request.RequestId, AgentInfo = _options.BuildAgentInfo(_options.Identity.SerialBase64Url) };
            _ = Task.Run(async () =>
            {
                try
                {
                    await SendAsync(response, _cts.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OspException or OperationCanceledException)
                {
                }
            });
            return;
        }
        Subscription? subscriber = null;
        lock (_waiters)
        {
            subscriber = _subscriptions.Find(s => s.Type == message.GetType());
            if (subscriber is null)
            {
                foreach (var w in _waiters)
                {
                    if (w.Matches(message) && w.Completion.TrySetResult(message)) return;
                }

                // The peer may start authenticating before our authentication layer subscribed: keep (a few) auth
                // messages for it rather than handing them to the application.
                if (message.TypeKey is >= OspTypeKeys.AuthCapabilities and <= OspTypeKeys.AuthSpake2Handshake && _earlyAuth.Count < EarlyAuthLimit)
                {
                    _earlyAuth.Add(message);
                    return;
                }
            }
        }
        if (subscriber is not null)
        {
            subscriber.Handler(message);
            return;
        }
        if (!_inbox.Writer.TryWrite(message))
            _ = CloseAsync(ProtocolErrorCode).AsTask(); // the application stopped reading: bounded memory beats silent loss
    }

    private sealed class Subscription(OspConnection connection, Type type, Action<IOspMessage> handler) : IDisposable
    {
        public Type Type { get; } = type;

        public Action<IOspMessage> Handler { get; } = handler;

        public void Dispose()
        {
            lock (connection._waiters) connection._subscriptions.Remove(this);
        }
    }

    private sealed class Waiter(Func<IOspMessage, bool> matches)
    {
        public Func<IOspMessage, bool> Matches { get; } = matches;
        public TaskCompletionSource<IOspMessage> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
