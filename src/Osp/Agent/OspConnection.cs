using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>
/// An Open Screen Protocol connection between two agents: QUIC + TLS 1.3 with ALPN <c>osp</c>, mutual
/// authentication with agent certificates, zero-length connection IDs, and OSP messages (QUIC varint type
/// key + CBOR body), each sent on its own unidirectional stream. agent-info requests are answered here;
/// every other message is delivered through <see cref="ReceiveAsync"/>, a <see cref="WaitForAsync{T}"/> waiter or
/// a <see cref="Subscribe{T}"/> handler. LP2P data channels (bidirectional streams) are opened through
/// <c>OspBridge.Osp.Lp2p.LP2PConnection</c>.
/// </summary>
/// <remarks>
/// <para>One serialized loop per connection processes every inbound message in order of arrival (no lock, no
/// task per message); one send loop writes outgoing messages one stream at a time. Everything a peer can make
/// the connection hold is bounded (docs/security.md, "OSP connection limits"): outstanding requests
/// (<see cref="OspAgentOptions.MaxPendingReplies"/>), queued sends and inbound messages, open streams, message
/// sizes, and time — a send that waits longer than <see cref="OspAgentOptions.StallTimeout"/> for the peer's
/// stream or flow-control credit closes the connection with <see cref="StalledErrorCode"/>.</para>
/// <para>The client pins the server's agent fingerprint (from the mDNS TXT <c>fp</c>); the server learns the
/// client's fingerprint from its certificate. With <see cref="OspAgentOptions.RequireAuthentication"/> only
/// agent-info and auth-* messages are processed until the authentication layer calls
/// <see cref="MarkAuthenticated"/>. Failures surface as <see cref="OspException"/> (the transport's exception is
/// its inner exception); cancellation raises <see cref="OperationCanceledException"/>.</para>
/// </remarks>
public sealed partial class OspConnection : IAsyncDisposable
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

    /// <summary>
    /// Application error code for a stalled peer (ours): it granted no stream or flow-control credit for our
    /// messages, or left a message incomplete, for longer than <see cref="OspAgentOptions.StallTimeout"/>.
    /// </summary>
    public const long StalledErrorCode = 408;

    /// <summary>
    /// Application error code for a flooding peer (ours): more outstanding requests than
    /// <see cref="OspAgentOptions.MaxPendingReplies"/>, or more messages before authentication than
    /// <see cref="OspAgentOptions.MaxMessagesBeforeAuthentication"/>.
    /// </summary>
    public const long TooManyRequestsErrorCode = 429;

    private readonly QuicConnection _quic;
    private readonly OspAgentOptions _options;
    private readonly ILogger _logger;
    private readonly MessageDemuxer _preAuthDemuxer;
    private readonly MessageDemuxer _demuxer;
    private readonly MessageDemuxer _channelDemuxer;
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _inboundBudget;
    private readonly Channel<Outbound> _outbound;
    private readonly Channel<IOspMessage> _inbox;
    private readonly ConcurrentDictionary<Type, Subscription> _subscriptions = new();
    private readonly List<IOspMessage> _earlyAuth = []; // loop only: auth-* that arrived before the auth layer subscribed
    private readonly List<Waiter> _waiters = []; // loop only
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<long> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private readonly Task _sendLoop;
    private readonly Task _acceptLoop;
    private long _nextRequestId;
    private volatile bool _authenticated;
    private volatile bool _notTrustedByPeer;
    private int _pendingReplies;
    private int _messagesBeforeAuthentication; // loop only
    private Task _quicClose = Task.CompletedTask;

    private OspConnection(QuicConnection quic, OspAgentOptions options, string remoteFingerprint, string? targetHostName)
    {
        _quic = quic;
        _options = options;
        _logger = options.Logger;
        RemoteFingerprint = remoteFingerprint;
        TargetHostName = targetHostName;
        _inbox = Channel.CreateBounded<IOspMessage>(new BoundedChannelOptions(Math.Max(1, options.ReceiveQueueLimit)) { SingleReader = false, SingleWriter = true });
        _outbound = Channel.CreateBounded<Outbound>(new BoundedChannelOptions(Math.Max(1, options.MaxQueuedSends)) { SingleReader = true, SingleWriter = false });
        _inboundBudget = new SemaphoreSlim(Math.Max(1, options.MaxQueuedInboundMessages));
        _preAuthDemuxer = CreateDemuxer(options.MaxMessageSizeBeforeAuthentication);
        _demuxer = CreateDemuxer(options.MaxMessageSize);
        _channelDemuxer = CreateDemuxer(options.DataChannelMaxMessageSize + 64);
        _loop = RunLoopAsync();
        _sendLoop = SendLoopAsync();
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>The peer's agent fingerprint (base64 SHA-256 of its certificate's SubjectPublicKeyInfo).</summary>
    public string RemoteFingerprint { get; }

    /// <summary>The peer's address.</summary>
    public IPEndPoint RemoteEndPoint => _quic.RemoteEndPoint;

    /// <summary>Our local address.</summary>
    public IPEndPoint LocalEndPoint => _quic.LocalEndPoint;

    /// <summary>Client side: the agent hostname we connected to (SNI); null on accepted connections.</summary>
    internal string? TargetHostName { get; }

    /// <summary>Our agent.</summary>
    internal OspAgentOptions Options => _options;

    /// <summary>Cancelled when the connection starts closing (<see cref="Closed"/> is complete by then).</summary>
    internal CancellationToken ClosingToken => _cts.Token;

    /// <summary>The QUIC connection (for the LP2P data channels).</summary>
    internal QuicConnection Quic => _quic;

    /// <summary>
    /// True once the connection is authenticated (always true unless <see cref="OspAgentOptions.RequireAuthentication"/>
    /// is on; the authentication layer sets it with <see cref="MarkAuthenticated"/>).
    /// </summary>
    public bool IsAuthenticated => _authenticated || !_options.RequireAuthentication;

    /// <summary>
    /// Marks the connection authenticated (for the authentication layer, once SPAKE2 succeeded). Messages the loop
    /// processes after this call pass the gate; call it from a <see cref="Subscribe{T}"/> handler (which runs on the
    /// loop) to open the gate exactly after the message that completed authentication. Data-channel open requests
    /// held by the gate (<see cref="OspAgentOptions.AuthenticationGracePeriod"/>) are accepted now.
    /// </summary>
    internal void MarkAuthenticated()
    {
        _authenticated = true;
        _work.Writer.TryWrite(new Work(WorkKind.Authenticated));
    }

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
            KeepAliveInterval = options.KeepAliveInterval,
            MaxInboundBidirectionalStreams = options.MaxDataChannels,
            MaxInboundUnidirectionalStreams = options.MaxInboundMessageStreams,
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
        return new OspConnection(quic, options, seen ?? expectedFingerprint, agentHostname);
    }

    internal static OspConnection FromAccepted(QuicConnection quic, OspAgentOptions options)
    {
        var cert = quic.RemoteCertificate as X509Certificate2
            ?? throw new OspException(OspError.ProtocolError, "OSP peer sent no agent certificate");
        return new OspConnection(quic, options, AgentIdentity.ComputeFingerprint(cert), null);
    }


    /// <summary>A fresh request id for this connection.</summary>
    public ulong NextRequestId() => (ulong)Interlocked.Increment(ref _nextRequestId);

    /// <summary>
    /// Sends one message on a new unidirectional stream. Messages go out in the order of the calls, through the
    /// connection's send queue (<see cref="OspAgentOptions.MaxQueuedSends"/>; a full queue makes this wait).
    /// </summary>
    /// <exception cref="OspException">The connection is closed or broke (<see cref="OspError.Closed"/>, …), or the peer
    /// granted no stream credit within <see cref="OspAgentOptions.StallTimeout"/> (<see cref="OspError.Timeout"/>; the
    /// connection is then closed with <see cref="StalledErrorCode"/>).</exception>
    public async ValueTask SendAsync(IOspMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        if (_closed.Task.IsCompleted)
        {
            throw ClosedException(_closed.Task.Result, $"sending {message.Name}");
        }

        var item = new Outbound(OspFraming.Frame(message), message.Name, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), IsReply: false, cancellationToken);
        try
        {
            await _outbound.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw ClosedException(_closed.Task.IsCompleted ? _closed.Task.Result : NoErrorCode, $"sending {message.Name}");
        }

        await item.Completion!.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Messages waiting in the receive queue (for tests).</summary>
    internal int QueuedMessageCount => _inbox.Reader.Count;

    /// <summary>Receives the next message not consumed by a waiter or a subscription; null once the connection is closed.</summary>
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
        var waiter = new Waiter(m => m is T t && match(t), $"waiting for {typeof(T).Name}");
        if (_closed.Task.IsCompleted || !_work.Writer.TryWrite(new Work(WorkKind.AddWaiter, waiter)))
        {
            throw ClosedException(_closed.Task.IsCompleted ? _closed.Task.Result : NoErrorCode, waiter.What);
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
            if (!waiter.Completion.Task.IsCompleted)
            {
                _work.Writer.TryWrite(new Work(WorkKind.RemoveWaiter, waiter));
            }
        }
    }

    /// <summary>
    /// Routes every incoming message of type <typeparamref name="T"/> to <paramref name="handler"/> (before
    /// waiters and <see cref="ReceiveAsync"/>) until the returned subscription is disposed. The handler runs on
    /// the connection's loop, in order of arrival: it must be quick and must not block (post to a channel,
    /// complete a task). An exception it throws is logged and the message is dropped.
    /// Messages of <typeparamref name="T"/> that arrived before this call and still wait in the receive queue (not
    /// yet taken by <see cref="ReceiveAsync"/>) are handed to the handler first, in order, so subscribing after the
    /// connection started loses nothing to the queue; the other queued messages keep their order.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another subscription for <typeparamref name="T"/> exists.</exception>
    public IDisposable Subscribe<T>(Action<T> handler)
        where T : class, IOspMessage
    {
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = new Subscription(this, typeof(T), m => handler((T)m));
        if (!_subscriptions.TryAdd(typeof(T), subscription))
        {
            throw new InvalidOperationException($"{typeof(T).Name} messages already have a subscriber on this connection.");
        }

        _work.Writer.TryWrite(new Work(WorkKind.Subscribed, typeof(T))); // hands over early auth-* and queued messages of T
        return subscription;
    }

    /// <summary>Asks the peer for its agent-info (request/response with a fresh request id).</summary>
    /// <exception cref="OspException">No answer in time, or the connection closed.</exception>
    public async Task<AgentInfo> RequestAgentInfoAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ulong id = NextRequestId();
        var response = WaitForAsync<AgentInfoResponse>(r => r.RequestId == id, timeout, cancellationToken);
        try
        {
            await SendAsync(new AgentInfoRequest { RequestId = id }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _ = response.Exception; // observed: the send failure is what the caller sees
            throw;
        }

        return (await response.ConfigureAwait(false)).AgentInfo;
    }

    /// <summary>Closes the connection with an application error code.</summary>
    /// <param name="errorCode">The QUIC application error code (0: no error; 404 unknown type; 400 protocol error).</param>
    /// <param name="cancellationToken">Stops waiting for the transport to finish closing (the close itself is not undone).</param>
    public async ValueTask CloseAsync(long errorCode = NoErrorCode, CancellationToken cancellationToken = default)
    {
        BeginClose(errorCode, sendClose: true);
        try
        {
            await _quicClose.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException)
        {
        }
    }

    /// <summary>Closes (no error) and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _quic.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loop, _sendLoop, _acceptLoop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
        _inboundBudget.Dispose();
    }

    private OspException ClosedException(long code, string what) => _notTrustedByPeer
        ? new(OspError.NotTrustedByPeer, $"{what}: {NotTrustedByPeerMessage}", null, code)
        : new(OspErrors.FromCloseCode(code), $"{what}: the connection to {RemoteEndPoint} is closed (application error {code})", null, code);

    /// <summary>Why the connection closed, as the <see cref="OspError"/> our operations report for close code <paramref name="code"/>.</summary>
    internal OspError ErrorForClose(long code) => _notTrustedByPeer ? OspError.NotTrustedByPeer : OspErrors.FromCloseCode(code);

    /// <summary>What operations on a connection closed by <see cref="FailNotTrustedByPeer"/> say.</summary>
    internal string NotTrustedByPeerMessage => $"the peer {RemoteFingerprint} at {RemoteEndPoint} no longer trusts us (it asked for PIN pairing); pair with it again";

    /// <summary>
    /// True when we closed the connection because the peer, which we admitted from our trust store, asked for PIN
    /// pairing: it no longer trusts us (one-sided revoke). Operations then fail with <see cref="OspError.NotTrustedByPeer"/>.
    /// </summary>
    public bool IsNotTrustedByPeer => _notTrustedByPeer;

    /// <summary>
    /// Closes at once (401) because the peer no longer trusts us (see <see cref="IsNotTrustedByPeer"/>); pending and
    /// later operations fail with <see cref="OspError.NotTrustedByPeer"/> instead of waiting for a timeout.
    /// </summary>
    internal void FailNotTrustedByPeer()
    {
        _notTrustedByPeer = true;
        BeginClose(NotAuthenticatedErrorCode, sendClose: true);
    }

    /// <summary>
    /// Starts closing (once; any thread): records the code, stops the stream readers and the send loop, and tells the
    /// loop to fail what waits. <paramref name="sendClose"/>: send CONNECTION_CLOSE (false when the peer or the
    /// transport closed it).
    /// </summary>
    private void BeginClose(long code, bool sendClose)
    {
        if (!_closed.TrySetResult(code)) return;
        if (sendClose)
        {
            _quicClose = CloseQuicAsync(code);
        }

        _outbound.Writer.TryComplete();
        _inbox.Writer.TryComplete();
        _work.Writer.TryWrite(new Work(WorkKind.Close));
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task CloseQuicAsync(long code)
    {
        try
        {
            await _quic.CloseAsync(code).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QuicException or ObjectDisposedException)
        {
        }
    }

    private sealed class Subscription(OspConnection connection, Type type, Action<IOspMessage> handler) : IDisposable
    {
        public Type Type { get; } = type;

        public Action<IOspMessage> Handler { get; } = handler;

        public void Dispose() => ((ICollection<KeyValuePair<Type, Subscription>>)connection._subscriptions).Remove(new(Type, this));
    }

    private sealed class Waiter(Func<IOspMessage, bool> matches, string what)
    {
        public Func<IOspMessage, bool> Matches { get; } = matches;

        public string What { get; } = what;

        public TaskCompletionSource<IOspMessage> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
