using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>
/// Accepts QUIC connections on a UDP port (shaped like System.Net.Quic's <c>QuicListener</c>). One receive task
/// per socket routes datagrams to the connections' loops by destination connection ID; datagrams for no
/// connection are answered statelessly (Version Negotiation, Retry, stateless reset) or start a new connection.
/// A connection in its handshake costs a loop and its state, no thread; at most
/// <see cref="QuicListenerOptions.MaxPendingConnections"/> of them exist at once.
/// </summary>
public sealed class QuicListener : IAsyncDisposable
{
    // Routing needs one short-header CID length per socket: listeners use 8-byte CIDs (see docs/quic.md).
    private const int CidLengthForRouting = 8;

    private readonly QuicListenerOptions _options;
    private readonly QuicEndpoint _endpoint;
    private readonly Channel<QuicConnection> _accepted;
    private readonly RetryTokens _retry;
    private readonly byte[] _response = new byte[1500];
    private readonly ConcurrentDictionary<QuicConnection, byte> _pending = new();
    private int _pendingCount;
    private int _pendingPeak; // most pending since the last time the count fell to zero
    private readonly byte[] _resetKey;
    private readonly CoreClock _clock;
    private volatile bool _disposed;
    private readonly TokenBucket _resets;
    private long _resetsSent, _resetsSuppressed;
    private long _droppedOverCap;
    private long _retriesSent;
    private long _connectionsCreated;

    private QuicListener(QuicListenerOptions options, IDatagramSocket socket)
    {
        _options = options;
        _clock = new CoreClock(options.TimeProvider);
        _resetKey = ConnectionCore.RandomBytes(CoreOptions.SystemRandom, 32);
        _accepted = Channel.CreateBounded<QuicConnection>(new BoundedChannelOptions(Math.Max(1, options.ListenBacklog)) { FullMode = BoundedChannelFullMode.DropWrite });
        _retry = new RetryTokens(CoreOptions.SystemRandom); // UseRetry, or under load
        _resets = new TokenBucket(options.StatelessResetsPerSecond, options.StatelessResetBurst, _clock.Now);
        _endpoint = new QuicEndpoint(socket, CidLengthForRouting, options.Logger) { OnUnrouted = OnUnrouted };
    }

    /// <summary>Always true: this implementation is fully managed.</summary>
    public static bool IsSupported => true;

    /// <summary>The bound address (with the real port when 0 was requested).</summary>
    public IPEndPoint LocalEndPoint => _endpoint.LocalEndPoint;

    /// <summary>Connections whose handshake has not completed yet.</summary>
    internal int PendingCount => Volatile.Read(ref _pendingCount);

    /// <summary>New connections refused because <see cref="QuicListenerOptions.MaxPendingConnections"/> were pending.</summary>
    internal long DroppedOverCap => Interlocked.Read(ref _droppedOverCap);

    /// <summary>Retry packets sent (always with <see cref="QuicListenerOptions.UseRetry"/>, else under load).</summary>
    internal long RetriesSent => Interlocked.Read(ref _retriesSent);

    /// <summary>Stateless resets sent.</summary>
    internal long StatelessResetsSent => Interlocked.Read(ref _resetsSent);

    /// <summary>Stateless resets not sent because the rate limit was reached.</summary>
    internal long StatelessResetsSuppressed => Interlocked.Read(ref _resetsSuppressed);

    /// <summary>Server connection objects created (each one an Initial that decrypted and was under the cap).</summary>
    internal long ConnectionsCreated => Interlocked.Read(ref _connectionsCreated);

    /// <summary>Starts listening.</summary>
    public static ValueTask<QuicListener> ListenAsync(QuicListenerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ListenEndPoint is null) throw new ArgumentException("ListenEndPoint is required");
        if (options.ApplicationProtocols is not { Count: > 0 }) throw new ArgumentException("ApplicationProtocols must not be empty");
        if (options.ConnectionOptionsCallback is null) throw new ArgumentException("ConnectionOptionsCallback is required");
        if (options.MaxPendingConnections < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxPendingConnections must be at least 1");
        cancellationToken.ThrowIfCancellationRequested();
        var socket = options.SocketFactory.Open(new UdpSocketOptions
        {
            LocalEndPoint = options.ListenEndPoint,
            ReceivePacketInfo = false,
            ReceiveBufferSize = 8 << 20,
            SendBufferSize = 8 << 20,
            ReceiveOnIoThread = true, // issue 14: the receive task's pass (decrypt, ACK) runs on the epoll thread, no pool hop
            DontFragment = true, // RFC 9000 §14: never IP-fragmented; Path MTU probes that do not fit fail instead
        });
        var l = new QuicListener(options, socket);
        l._endpoint.Start();
        return ValueTask.FromResult(l);
    }

    /// <summary>Waits for the next connection whose handshake completed.</summary>
    public async ValueTask<QuicConnection> AcceptConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new QuicException(QuicError.OperationAborted, null, "listener disposed");
        }
    }

    /// <summary>On the receive task: a datagram that matched no connection.</summary>
    private void OnUnrouted(Span<byte> data, DatagramPath path)
    {
        if (_disposed || path.Remote is not { } from) return;
        var reply = new DatagramPath(path.Local, from);
        if ((data[0] & 0x80) == 0)
        {
            int rl0 = ServerAccept.StatelessResetFor(data, _resetKey, CidLengthForRouting, CoreOptions.SystemRandom, _response);
            if (rl0 <= 0) return;
            if (!_resets.TryTake(_clock.Now))
            {
                Interlocked.Increment(ref _resetsSuppressed);
                return;
            }
            Interlocked.Increment(ref _resetsSent);
            _endpoint.Send(_response.AsSpan(0, rl0), reply);
            return;
        }
        Span<byte> address = stackalloc byte[18];
        int addressLength = AddressBytes(from, address);
        bool requireRetry = _options.UseRetry || Volatile.Read(ref _pendingCount) >= _options.RetryAbovePendingConnections;
        var decision = ServerAccept.Inspect(data, _retry, requireRetry, address[..addressLength], _clock.Now, CidLengthForRouting, CoreOptions.SystemRandom, _response, out int rl, out var info);
        if (decision is AcceptDecision.Retry or AcceptDecision.VersionNegotiation)
        {
            if (decision == AcceptDecision.Retry) Interlocked.Increment(ref _retriesSent);
            _endpoint.Send(_response.AsSpan(0, rl), reply);
            return;
        }
        if (decision != AcceptDecision.Accept) return; // includes Initials that do not decrypt: no state, no reply
        int pendingNow = Interlocked.Increment(ref _pendingCount);
        if (pendingNow > Volatile.Read(ref _pendingPeak)) Volatile.Write(ref _pendingPeak, pendingNow); // receive task only
        if (pendingNow > _options.MaxPendingConnections)
        {
            // over the cap: the client retransmits its Initial and gets in once handshakes finish or time out
            Interlocked.Decrement(ref _pendingCount);
            Interlocked.Increment(ref _droppedOverCap);
            return;
        }
        var conn = QuicConnection.CreateInbound(_endpoint, from);
        Interlocked.Increment(ref _connectionsCreated);
        _pending[conn] = 0;
        var first = data.ToArray();
        ValueTask<QuicServerConnectionOptions> options;
        try
        {
            var hello = new SslClientHelloInfo("", System.Security.Authentication.SslProtocols.Tls13);
            options = _options.ConnectionOptionsCallback(conn, hello, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Refuse(conn, ex);
            return;
        }
        if (options.IsCompletedSuccessfully) Start(conn, options.Result, info, first, path);
        else _ = StartLaterAsync(conn, options, info, first, path);
    }

    private async Task StartLaterAsync(QuicConnection conn, ValueTask<QuicServerConnectionOptions> options, AcceptInfo info, byte[] first, DatagramPath path)
    {
        QuicServerConnectionOptions o;
        try { o = await options.ConfigureAwait(false); }
        catch (Exception ex)
        {
            Refuse(conn, ex);
            return;
        }
        if (_disposed) { Refuse(conn, null); return; }
        Start(conn, o, info, first, path); // datagrams that arrived meanwhile were dropped; the client retransmits
    }

    private void Start(QuicConnection conn, QuicServerConnectionOptions options, in AcceptInfo info, byte[] first, DatagramPath path)
    {
        conn.OnConnectedForListener = c =>
        {
            Forget(c);
            if (_disposed || !_accepted.Writer.TryWrite(c)) _ = c.DisposeAsync().AsTask();
        };
        conn.OnClosedForListener = c =>
        {
            Forget(c);
        };
        try
        {
            conn.InitInbound(options, _options, info, _resetKey, first, path);
        }
        catch (Exception ex)
        {
            Refuse(conn, ex); // callback returned invalid options: drop the Initial
        }
    }

    private void Refuse(QuicConnection conn, Exception? ex)
    {
        Forget(conn);
        if (ex is not null) LogRefused(_options.Logger, conn.RemoteEndPoint, ex);
    }

    private static readonly Action<ILogger, IPEndPoint, Exception?> LogRefused =
        LoggerMessage.Define<IPEndPoint>(LogLevel.Debug, new EventId(1, "QuicConnectionRefused"), "QUIC connection from {Remote} refused");

    private void Forget(QuicConnection c)
    {
        if (_pending.TryRemove(c, out _) && Interlocked.Decrement(ref _pendingCount) == 0
            && Interlocked.Exchange(ref _pendingPeak, 0) >= NativeHeapTrim.BurstThreshold)
        {
            NativeHeapTrim.AfterBurst(_clock.Now); // a burst of handshakes is over: give their native heap back
        }
    }

    private static int AddressBytes(IPEndPoint ep, Span<byte> dest)
    {
        ep.Address.TryWriteBytes(dest, out int n);
        dest[n] = (byte)(ep.Port >> 8);
        dest[n + 1] = (byte)ep.Port;
        return n + 2;
    }

    /// <summary>Stops listening; connections already accepted stay open until disposed, pending handshakes are dropped.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        _accepted.Writer.TryComplete();
        QuicConnection[] pending;
        pending = [.. _pending.Keys];
        foreach (var c in pending) await c.DisposeAsync().ConfigureAwait(false);
        while (_accepted.Reader.TryRead(out var c)) await c.DisposeAsync().ConfigureAwait(false);
        await _endpoint.ReleaseAsync().ConfigureAwait(false);
    }
}
