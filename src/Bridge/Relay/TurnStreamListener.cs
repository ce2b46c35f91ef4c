using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;

namespace OspBridge.Bridge.Relay;

/// <summary>Limits of the relay's TCP/TLS client side (docs/bridge.md, "Relay").</summary>
internal sealed class TurnStreamLimits
{
    /// <summary>Client connections open at once (all addresses); more are closed at accept.</summary>
    public int MaxConnections { get; init; } = 512;

    /// <summary>Client connections open at once from one address.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 32;

    /// <summary>Largest frame accepted (a STUN message or ChannelData with its padding); a bigger one closes the connection.</summary>
    public int MaxFrame { get; init; } = 2112; // the relay loop's datagram slot (TurnRelayServer)

    /// <summary>Frames queued towards one client; more are dropped (they are datagrams to the core, as UDP would drop them).</summary>
    public int MaxQueuedFrames { get; init; } = 256;

    /// <summary>A connection must deliver its first frame (and finish TLS) within this time.</summary>
    public TimeSpan FirstFrameTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection silent for this long is closed (longer than an allocation's default lifetime).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(11);
}

/// <summary>
/// The relay's stream transports for the client side (RFC 5766 §2.1 / RFC 8656 §3.1): TURN over TCP (<c>turn:…?transport=tcp</c>)
/// and over TLS (<c>turns:</c>, with the bridge's certificate). Each connection is framed by <see cref="TurnStreamFrame"/>
/// and every frame goes to the same <see cref="TurnServerCore"/> as a datagram whose path is (the connection's local
/// address, the client's address) — the core cannot tell a stream client from a UDP one, and its answers for that
/// path come back here (<see cref="TrySend"/>) to be written on the connection (ChannelData padded to 4 bytes). The
/// relayed side stays UDP. Bounded everywhere: connections in all and per address, frame size (checked from the
/// header before buffering), queued frames per connection, a first-frame and an idle timeout. When a connection
/// closes, its allocation is deleted (the <c>closed</c> callback).
/// </summary>
internal sealed partial class TurnStreamListener : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly X509Certificate2? _certificate;
    private readonly Func<ReadOnlyMemory<byte>, DatagramPath, bool> _post;
    private readonly Action<IPEndPoint> _closed;
    private readonly ILogger _logger;
    private readonly TurnStreamLimits _limits;
    private readonly ConcurrentDictionary<IPEndPoint, Connection> _connections = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _disposed;

    /// <param name="bind">The listening address.</param>
    /// <param name="port">The TCP port (0: any free port).</param>
    /// <param name="certificate">TLS with this certificate (turns:), or null for plain TCP.</param>
    /// <param name="post">Hands one frame to the relay's loop (false: its inbox is full; the frame is dropped).</param>
    /// <param name="closed">Called with the client's address when its connection is gone (the loop deletes its allocation).</param>
    /// <param name="logger">Where connection problems are logged.</param>
    /// <param name="limits">The limits (default <see cref="TurnStreamLimits"/>).</param>
    public TurnStreamListener(IPAddress bind, int port, X509Certificate2? certificate, Func<ReadOnlyMemory<byte>, DatagramPath, bool> post,
        Action<IPEndPoint> closed, ILogger logger, TurnStreamLimits? limits = null)
    {
        _certificate = certificate;
        _post = post;
        _closed = closed;
        _logger = logger;
        _limits = limits ?? new TurnStreamLimits();
        _listener = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (bind.AddressFamily == AddressFamily.InterNetworkV6) _listener.DualMode = bind.Equals(IPAddress.IPv6Any);
            _listener.Bind(new IPEndPoint(bind, port));
            _listener.Listen(128);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    /// <summary>The listening address.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>TLS (turns:) rather than plain TCP.</summary>
    public bool IsTls => _certificate is not null;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>
    /// Queues <paramref name="message"/> (a STUN message or unpadded ChannelData from the core) for the client at
    /// <paramref name="path"/>; false when no connection of this listener has that path (then it is not ours). Never blocks.
    /// </summary>
    public bool TrySend(ReadOnlySpan<byte> message, DatagramPath path)
    {
        if (path.Remote is null || !_connections.TryGetValue(path.Remote, out var c) || (path.Local is not null && !path.Local.Equals(c.Local))) return false;
        int padding = TurnStreamFrame.PaddingOf(message.Length);
        var frame = ArrayPool<byte>.Shared.Rent(message.Length + padding);
        message.CopyTo(frame);
        frame.AsSpan(message.Length, padding).Clear();
        if (!c.Outgoing.Writer.TryWrite(new Frame(frame, message.Length + padding))) ArrayPool<byte>.Shared.Return(frame); // full or closed: dropped
        return true;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                LogAcceptFailed(_logger, ex.SocketErrorCode.ToString(), null);
                continue;
            }
            var remote = Normal((IPEndPoint)socket.RemoteEndPoint!);
            if (_connections.Count >= _limits.MaxConnections || !TakeAddressSlot(remote.Address))
            {
                LogRefused(_logger, remote, null);
                socket.Dispose();
                continue;
            }
            socket.NoDelay = true;
            var c = new Connection(socket, Normal((IPEndPoint)socket.LocalEndPoint!), remote, _limits.MaxQueuedFrames);
            if (!_connections.TryAdd(remote, c))
            {
                ReleaseAddressSlot(remote.Address);
                socket.Dispose();
                continue;
            }
            _ = RunAsync(c);
        }
    }

    private async Task RunAsync(Connection c)
    {
        Stream stream = new NetworkStream(c.Socket, ownsSocket: true);
        var buffer = ArrayPool<byte>.Shared.Rent(_limits.MaxFrame);
        Task? writer = null;
        try
        {
            using var first = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            first.CancelAfter(_limits.FirstFrameTimeout);
            if (_certificate is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = _certificate,
                    ClientCertificateRequired = false,
                    EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                }, first.Token).ConfigureAwait(false);
            }
            writer = WriteAsync(c, stream);
            int used = 0;
            bool gotFrame = false;
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                idle.CancelAfter(gotFrame ? _limits.IdleTimeout : _limits.FirstFrameTimeout);
                int n = await stream.ReadAsync(buffer.AsMemory(used, _limits.MaxFrame - used), idle.Token).ConfigureAwait(false);
                if (n == 0) return;
                used += n;
                int offset = 0;
                while (true)
                {
                    var status = TurnStreamFrame.TryRead(buffer.AsSpan(offset, used - offset), _limits.MaxFrame, out int frameLength, out int messageLength);
                    if (status == TurnStreamFrameStatus.NeedMore) break;
                    if (status == TurnStreamFrameStatus.Invalid)
                    {
                        LogBadFrame(_logger, c.Remote, null);
                        return;
                    }
                    gotFrame = true;
                    if (!_post(buffer.AsMemory(offset, messageLength), new DatagramPath(c.Local, c.Remote))) LogInboxFull(_logger, c.Remote, null);
                    offset += frameLength;
                }
                if (offset > 0)
                {
                    buffer.AsSpan(offset, used - offset).CopyTo(buffer);
                    used -= offset;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                string why = ex.GetType().Name;
                LogConnectionEnded(_logger, c.Remote, why, null);
            }
        }
        finally
        {
            _connections.TryRemove(new KeyValuePair<IPEndPoint, Connection>(c.Remote, c));
            ReleaseAddressSlot(c.Remote.Address);
            c.Outgoing.Writer.TryComplete();
            try { await stream.DisposeAsync().ConfigureAwait(false); }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException) { }
            if (writer is not null)
            {
                try { await writer.ConfigureAwait(false); }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
            }
            while (c.Outgoing.Reader.TryRead(out var left)) ArrayPool<byte>.Shared.Return(left.Buffer);
            ArrayPool<byte>.Shared.Return(buffer);
            _closed(c.Remote);
        }
    }

    private async Task WriteAsync(Connection c, Stream stream)
    {
        var reader = c.Outgoing.Reader;
        while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
        {
            while (reader.TryRead(out var f))
            {
                try
                {
                    await stream.WriteAsync(f.Buffer.AsMemory(0, f.Length), _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(f.Buffer);
                }
            }
            await stream.FlushAsync(_stop.Token).ConfigureAwait(false);
        }
    }

    private bool TakeAddressSlot(IPAddress address)
    {
        while (true)
        {
            int n = _perAddress.GetValueOrDefault(address);
            if (n >= _limits.MaxConnectionsPerAddress) return false;
            if (n == 0 ? _perAddress.TryAdd(address, 1) : _perAddress.TryUpdate(address, n + 1, n)) return true;
        }
    }

    private void ReleaseAddressSlot(IPAddress address)
    {
        while (_perAddress.TryGetValue(address, out int n))
        {
            if (n <= 1 ? _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, n)) : _perAddress.TryUpdate(address, n - 1, n)) return;
        }
    }

    private static IPEndPoint Normal(IPEndPoint ep) => ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;

    /// <summary>Stops accepting and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        foreach (var c in _connections.Values)
        {
            try { c.Socket.Shutdown(SocketShutdown.Both); }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
            c.Socket.Dispose();
        }
    }

    private readonly record struct Frame(byte[] Buffer, int Length);

    private sealed class Connection(Socket socket, IPEndPoint local, IPEndPoint remote, int maxQueued)
    {
        public Socket Socket { get; } = socket;
        public IPEndPoint Local { get; } = local;
        public IPEndPoint Remote { get; } = remote;
        public Channel<Frame> Outgoing { get; } = Channel.CreateBounded<Frame>(new BoundedChannelOptions(maxQueued)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the frame is dropped by the caller
            SingleReader = true,
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "relay: accepting a TCP client failed: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, string error, Exception? ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "relay: TCP/TLS client {Remote} refused (connection limit)")]
    private static partial void LogRefused(ILogger logger, IPEndPoint remote, Exception? ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "relay: TCP/TLS client {Remote} sent something that is neither STUN nor ChannelData (or too large): closed")]
    private static partial void LogBadFrame(ILogger logger, IPEndPoint remote, Exception? ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "relay: loop inbox full, a frame from {Remote} dropped")]
    private static partial void LogInboxFull(ILogger logger, IPEndPoint remote, Exception? ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "relay: TCP/TLS client {Remote} gone ({Why})")]
    private static partial void LogConnectionEnded(ILogger logger, IPEndPoint remote, string why, Exception? ex);
}
