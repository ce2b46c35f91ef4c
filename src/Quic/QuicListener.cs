using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading.Channels;
using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>Accepts QUIC connections on a UDP port (shaped like System.Net.Quic's <c>QuicListener</c>).</summary>
public sealed class QuicListener : IAsyncDisposable
{
    private readonly QuicListenerOptions _options;
    private readonly UdpEndpoint _endpoint;
    private readonly Channel<QuicConnection> _accepted;
    private readonly RetryTokens? _retry;
    private readonly byte[] _response = new byte[1500];
    private readonly HashSet<QuicConnection> _pending = new();
    private bool _disposed;
    private readonly byte[] _resetKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
    private int _resetsSent;

    private QuicListener(QuicListenerOptions options)
    {
        _options = options;
        _accepted = Channel.CreateBounded<QuicConnection>(new BoundedChannelOptions(Math.Max(1, options.ListenBacklog)) { FullMode = BoundedChannelFullMode.DropWrite });
        _retry = options.UseRetry ? new RetryTokens(Core.CoreOptions.SystemRandom) : null;
        _endpoint = new UdpEndpoint(options.ListenEndPoint, CidLengthForRouting, null, 1452) { OnUnrouted = OnUnrouted };
    }

    // Routing needs one short-header CID length per socket: listeners use 8-byte CIDs (see docs/quic.md).
    private const int CidLengthForRouting = 8;

    /// <summary>Always true: this implementation is fully managed.</summary>
    public static bool IsSupported => true;

    /// <summary>The bound address (with the real port when 0 was requested).</summary>
    public IPEndPoint LocalEndPoint => _endpoint.LocalEndPoint;

    /// <summary>Starts listening.</summary>
    public static ValueTask<QuicListener> ListenAsync(QuicListenerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ListenEndPoint is null) throw new ArgumentException("ListenEndPoint is required");
        if (options.ApplicationProtocols is not { Count: > 0 }) throw new ArgumentException("ApplicationProtocols must not be empty");
        if (options.ConnectionOptionsCallback is null) throw new ArgumentException("ConnectionOptionsCallback is required");
        cancellationToken.ThrowIfCancellationRequested();
        var l = new QuicListener(options);
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

    private bool OnUnrouted(byte[] buffer, int length, SocketAddress from)
    {
        if (_disposed) return false;
        var data = buffer.AsSpan(0, length);
        var address = from.Buffer.Span[..from.Size];
        if ((data[0] & 0x80) == 0)
        {
            int rl0 = ServerAccept.StatelessResetFor(data, _resetKey, CidLengthForRouting, Core.CoreOptions.SystemRandom, _response);
            if (rl0 > 0 && Interlocked.Increment(ref _resetsSent) < 100_000) _endpoint.Send(_response.AsSpan(0, rl0), from);
            return false;
        }
        var decision = ServerAccept.Inspect(data, _retry, address, QuicConnection.Now, CidLengthForRouting, Core.CoreOptions.SystemRandom, _response, out int rl, out var info);
        if (decision is AcceptDecision.Retry or AcceptDecision.VersionNegotiation)
        {
            _endpoint.Send(_response.AsSpan(0, rl), from);
            return false;
        }
        if (decision != AcceptDecision.Accept) return false;
        var conn = QuicConnection.CreateInbound(_endpoint, from);
        QuicServerConnectionOptions opts;
        try
        {
            var hello = new SslClientHelloInfo("", System.Security.Authentication.SslProtocols.Tls13);
            opts = _options.ConnectionOptionsCallback(conn, hello, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            conn.OnConnectedForListener = c =>
            {
                lock (_pending) _pending.Remove(c);
                if (!_accepted.Writer.TryWrite(c)) _ = c.DisposeAsync().AsTask();
            };
            lock (_pending) _pending.Add(conn);
            conn.InitInbound(opts, info, _resetKey);
        }
        catch (Exception)
        {
            return false; // callback failed or options invalid: drop the Initial
        }
        conn.EnqueueDatagram(buffer, length);
        _ = conn.ConnectedTask.ContinueWith(t => { lock (_pending) _pending.Remove(conn); if (t.IsFaulted) _ = conn.DisposeAsync().AsTask(); }, TaskScheduler.Default);
        return true;
    }

    /// <summary>Stops listening; connections already accepted stay open until disposed, pending handshakes are dropped.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        _accepted.Writer.TryComplete();
        QuicConnection[] pending;
        lock (_pending) pending = [.. _pending];
        foreach (var c in pending) await c.DisposeAsync().ConfigureAwait(false);
        while (_accepted.Reader.TryRead(out var c)) await c.DisposeAsync().ConfigureAwait(false);
        _endpoint.Release();
    }
}
