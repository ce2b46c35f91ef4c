using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Tls;
using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>
/// A QUIC connection (shaped like System.Net.Quic's <c>QuicConnection</c>). The protocol runs in a sans-IO core;
/// this class is its driver: one background loop per connection owns the core (serialized by one lock), feeds it
/// received datagrams and timer expiries, and sends what it produces.
/// </summary>
public sealed partial class QuicConnection : IAsyncDisposable
{
    private static readonly long StartTimestamp = Stopwatch.GetTimestamp();
    internal static TimeSpan Now => Stopwatch.GetElapsedTime(StartTimestamp);

    internal readonly object Sync = new();
    private ConnectionCore _core = null!;
    private UdpEndpoint _endpoint = null!;
    private SocketAddress? _peerAddress;         // null for a connected client socket
    private bool _ownsEndpoint;
    private readonly ConcurrentQueue<(byte[] Buffer, int Length)> _inbound = new();
    private readonly SemaphoreSlim _wake = new(0);
    private Thread? _loop;
    private readonly Dictionary<long, QuicStream> _streams = new();
    private readonly AsyncSignal _acceptSignal = new(), _streamsSignal = new(), _datagramSignal = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private QuicConnectionOptions _options = null!;
    private volatile bool _disposed;
    private TimeSpan _handshakeDeadline;
    private TimeSpan _lastActivity;
    internal Action<QuicConnection>? OnConnectedForListener;

    private QuicConnection() { }

    /// <summary>Always true: this implementation is fully managed.</summary>
    public static bool IsSupported => true;

    /// <summary>Local address of the UDP socket.</summary>
    public IPEndPoint LocalEndPoint => _endpoint.LocalEndPoint;

    /// <summary>The peer's address.</summary>
    public IPEndPoint RemoteEndPoint { get; private set; } = null!;

    /// <summary>Client: the SNI host name sent; server: the one received.</summary>
    public string TargetHostName { get; private set; } = "";

    /// <summary>The peer's certificate (null when it sent none).</summary>
    public X509Certificate? RemoteCertificate => _core?.Tls.PeerCertificate;

    /// <summary>The ALPN protocol agreed on.</summary>
    public SslApplicationProtocol NegotiatedApplicationProtocol =>
        _core?.Tls.NegotiatedApplicationProtocol is { } p ? new SslApplicationProtocol(p) : default;

    /// <summary>The negotiated TLS 1.3 cipher suite.</summary>
    public System.Net.Security.TlsCipherSuite NegotiatedCipherSuite => TlsMapping.ToBcl(_core.Tls.CipherSuite);

    /// <summary>Always TLS 1.3.</summary>
    public System.Security.Authentication.SslProtocols SslProtocol => System.Security.Authentication.SslProtocols.Tls13;

    /// <summary>Extension: largest DATAGRAM payload the peer accepts now (0: datagrams not available).</summary>
    public int MaxDatagramSize
    {
        get
        {
            lock (Sync)
            {
                ulong m = _core.PeerParameters?.MaxDatagramFrameSize ?? 0;
                return m == 0 ? 0 : (int)Math.Min(m - 4, 1100);
            }
        }
    }

    internal ConnectionCore CoreForTests => _core;

    /// <summary>Connects to a server and completes the handshake.</summary>
    public static async ValueTask<QuicConnection> ConnectAsync(QuicClientConnectionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ValidateCommon();
        var tlsOpts = options.ClientAuthenticationOptions ?? throw new ArgumentException("ClientAuthenticationOptions is required");
        if (tlsOpts.ApplicationProtocols is not { Count: > 0 }) throw new ArgumentException("ClientAuthenticationOptions.ApplicationProtocols must not be empty");
        IPEndPoint remote = options.RemoteEndPoint switch
        {
            IPEndPoint ip => ip,
            DnsEndPoint dns => new IPEndPoint((await Dns.GetHostAddressesAsync(dns.Host, cancellationToken).ConfigureAwait(false))[0], dns.Port),
            _ => throw new ArgumentException("RemoteEndPoint must be an IPEndPoint or DnsEndPoint"),
        };
        if (remote.Address.IsIPv4MappedToIPv6) remote = new IPEndPoint(remote.Address.MapToIPv4(), remote.Port);
        var c = new QuicConnection { _options = options, RemoteEndPoint = remote, _ownsEndpoint = true };
        c.TargetHostName = tlsOpts.TargetHost ?? (options.RemoteEndPoint as DnsEndPoint)?.Host ?? "";
        var core = CoreOptionsFrom(options, isClient: true);
        var bind = options.LocalEndPoint ?? new IPEndPoint(remote.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        c._endpoint = new UdpEndpoint(bind, core.LocalCidLength, remote, core.MaxDatagramSize) { Single = c };
        var sni = string.IsNullOrEmpty(c.TargetHostName) || IPAddress.TryParse(c.TargetHostName, out _) ? null : c.TargetHostName;
        X509Certificate2? clientCert = tlsOpts.ClientCertificates is { Count: > 0 } cc ? cc[0] as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cc[0].GetRawCertData()) : null;
        c._core = ConnectionCore.CreateClient(core, tp => TlsMapping.Create(new QuicTlsOptions
        {
            IsClient = true,
            ServerName = sni,
            ApplicationProtocols = tlsOpts.ApplicationProtocols.Select(p => p.ToString()).ToList(),
            LocalTransportParameters = tp,
            Certificate = clientCert,
            ValidatePeerCertificate = TlsMapping.Validator(c, tlsOpts.RemoteCertificateValidationCallback, c.TargetHostName, isClient: true),
            CipherSuites = TlsMapping.Suites(tlsOpts.CipherSuitesPolicy),
            KeyLog = TlsMapping.KeyLog(),
        }));
        c.StartLoop();
        c._endpoint.Start();
        try
        {
            using var reg = cancellationToken.Register(() => c.Abort(new QuicException(QuicError.OperationAborted, null, "connect canceled")));
            await c._connected.Task.ConfigureAwait(false);
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return c;
    }

    internal static CoreOptions CoreOptionsFrom(QuicConnectionOptions o, bool isClient)
    {
        var w = o.InitialReceiveWindowSizes ?? new QuicReceiveWindowSizes();
        return new CoreOptions
        {
            IsClient = isClient,
            LocalCidLength = o.ConnectionIdLength,
            IdleTimeout = o.IdleTimeout > TimeSpan.Zero ? o.IdleTimeout : TimeSpan.FromSeconds(30),
            InitialMaxData = (ulong)w.Connection,
            InitialMaxStreamDataBidiLocal = (ulong)w.LocallyInitiatedBidirectionalStream,
            InitialMaxStreamDataBidiRemote = (ulong)w.RemotelyInitiatedBidirectionalStream,
            InitialMaxStreamDataUni = (ulong)w.UnidirectionalStream,
            MaxInboundBidiStreams = (ulong)o.MaxInboundBidirectionalStreams,
            MaxInboundUniStreams = (ulong)o.MaxInboundUnidirectionalStreams,
            MaxDatagramFrameSize = (ulong)o.MaxDatagramFrameSize,
            KeyUpdateInterval = o.KeyUpdateInterval,
        };
    }

    /// <summary>Server side: creates the connection object before its options are known (the listener's callback receives it).</summary>
    internal static QuicConnection CreateInbound(UdpEndpoint endpoint, SocketAddress peer)
    {
        var copy = new SocketAddress(peer.Family, peer.Size);
        peer.Buffer.Span[..peer.Size].CopyTo(copy.Buffer.Span);
        var ep = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(copy);
        return new QuicConnection { _endpoint = endpoint, _peerAddress = copy, RemoteEndPoint = ep };
    }

    internal void InitInbound(QuicServerConnectionOptions options, in AcceptInfo info, byte[] statelessResetKey)
    {
        options.ValidateCommon();
        if (options.ConnectionIdLength is not (0 or 8)) throw new ArgumentException("listener connections use 8-byte or zero-length connection IDs");
        var tlsOpts = options.ServerAuthenticationOptions ?? throw new ArgumentException("ServerAuthenticationOptions is required");
        var cert = tlsOpts.ServerCertificate as X509Certificate2
            ?? tlsOpts.ServerCertificateContext?.TargetCertificate
            ?? throw new ArgumentException("ServerAuthenticationOptions.ServerCertificate (X509Certificate2 with private key) is required");
        _options = options;
        var core = CoreOptionsFrom(options, isClient: false);
        core.StatelessResetKey = statelessResetKey;
        _core = ServerAccept.CreateServer(core, tp => TlsMapping.Create(new QuicTlsOptions
        {
            IsClient = false,
            ApplicationProtocols = (tlsOpts.ApplicationProtocols ?? []).Select(p => p.ToString()).ToList(),
            LocalTransportParameters = tp,
            Certificate = cert,
            RequireClientCertificate = tlsOpts.ClientCertificateRequired,
            ValidatePeerCertificate = TlsMapping.Validator(this, tlsOpts.RemoteCertificateValidationCallback, null, isClient: false),
            CipherSuites = TlsMapping.Suites(tlsOpts.CipherSuitesPolicy),
            KeyLog = TlsMapping.KeyLog(),
        }), info);
        _endpoint.AddRef();
        _endpoint.Register(info.ClientDcid, this);
        _endpoint.Register(_core.LocalConnectionId, this);
        if (_core.LocalConnectionId.Length == 0) _endpoint.RegisterAddress(_peerAddress!, this);
        StartLoop();
    }

    internal Task ConnectedTask => _connected.Task;

    private void StartLoop()
    {
        var now = Now;
        _handshakeDeadline = now + (_options.HandshakeTimeout > TimeSpan.Zero ? _options.HandshakeTimeout : TimeSpan.FromSeconds(10));
        _lastActivity = now;
        lock (Sync) { if (_core.IsClient) _core.Start(now); }
        _loop = new Thread(Loop) { IsBackground = true, Name = "quic-conn" };
        _loop.Start();
    }

    internal void EnqueueDatagram(byte[] buffer, int length)
    {
        if (_disposed) { ArrayPool<byte>.Shared.Return(buffer); return; }
        if (_inbound.Count > 4096) { ArrayPool<byte>.Shared.Return(buffer); return; } // bounded: drop
        _inbound.Enqueue((buffer, length));
        Wake();
    }

    /// <summary>
    /// Receive-thread fast path: processes the datagram under the connection lock right away and, when the socket
    /// has nothing more queued, flushes (ACKs, data freed by the ACKs) without a thread hop to the loop.
    /// </summary>
    internal void DeliverInline(byte[] buffer, int length, bool moreQueued, byte[] batch)
    {
        if (_disposed || _loop is null) { ArrayPool<byte>.Shared.Return(buffer); return; }
        bool wake = false;
        lock (Sync)
        {
            if (_core.State == CoreState.Closed) { ArrayPool<byte>.Shared.Return(buffer); return; }
            var now = Now;
            _core.Receive(buffer.AsSpan(0, length), default, now);
            _lastActivity = now;
            if (!moreQueued || ++_inlineSinceFlush >= 32)
            {
                _inlineSinceFlush = 0;
                Flush(batch, _endpoint.GsoSegmentSize, now);
                ProcessEvents();
                wake = true; // the loop re-arms its timer
            }
        }
        ArrayPool<byte>.Shared.Return(buffer);
        if (wake) Wake();
    }

    private int _inlineSinceFlush;

    internal void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    private void Loop()
    {
        int seg = _endpoint.GsoSegmentSize;
        var batch = new byte[Math.Max(seg, 1500) * (seg > 0 ? UdpEndpoint.MaxGsoSegments : 1)];
        while (true)
        {
            TimeSpan wait;
            lock (Sync)
            {
                var now = Now;
                    int drained = 0;
                while (drained++ < 256 && _inbound.TryDequeue(out var d))
                {
                    _core.Receive(d.Buffer.AsSpan(0, d.Length), default, now);
                    ArrayPool<byte>.Shared.Return(d.Buffer);
                    _lastActivity = now;
                }
                if (_core.State == CoreState.Handshaking && now >= _handshakeDeadline)
                {
                    _core.Abandon();
                    _timeoutReason = new QuicException(QuicError.ConnectionTimeout, null, "handshake timed out");
                }
                if (_core.NextDeadline <= now) _core.HandleDeadline(now);
                if (_options.KeepAliveInterval > TimeSpan.Zero && _core.State == CoreState.Connected && now - _lastActivity >= _options.KeepAliveInterval)
                {
                    _core.SendPing();
                    _lastActivity = now;
                }
                Flush(batch, seg, now);
                ProcessEvents();
                if (_core.State == CoreState.Closed || _disposed && _core.State != CoreState.Closing) break;
                var next = _core.NextDeadline ?? TimeSpan.MaxValue;
                if (_core.State == CoreState.Handshaking && _handshakeDeadline < next) next = _handshakeDeadline;
                wait = next == TimeSpan.MaxValue ? TimeSpan.FromSeconds(1) : next - now;
                if (!_inbound.IsEmpty) wait = TimeSpan.Zero;
            }
            if (wait > TimeSpan.Zero) _wake.Wait(wait > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait);
        }
        Finish();
    }

    private QuicException? _timeoutReason;

    private void Flush(byte[] batch, int seg, TimeSpan now)
    {
        int pos = 0;
        for (int i = 0; i < 100_000; i++)
        {
            int room = batch.Length - pos;
            if (room < 1200) { _endpoint.Send(batch.AsSpan(0, pos), _peerAddress); pos = 0; room = batch.Length; }
            if (!_core.TryPollTransmit(batch.AsSpan(pos, Math.Min(room, seg > 0 ? seg : 1500)), now, out var tx)) break;
            int n = tx.Length;
            if (seg == 0) { _endpoint.Send(batch.AsSpan(0, n), _peerAddress); continue; }
            pos += n;
            if (n != seg) { _endpoint.Send(batch.AsSpan(0, pos), _peerAddress); pos = 0; }
        }
        if (pos > 0) _endpoint.Send(batch.AsSpan(0, pos), _peerAddress);
        if (_core.State >= CoreState.Closing) _closeSent.TrySetResult();
    }

    private readonly TaskCompletionSource _closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void ProcessEvents()
    {
        while (_core.TryPollEvent(out var e))
        {
            switch (e.Kind)
            {
                case CoreEventKind.Connected:
                    if (_core.IsClient) _connected.TrySetResult();
                    else { _connected.TrySetResult(); OnConnectedForListener?.Invoke(this); }
                    break;
                case CoreEventKind.StreamOpened: _acceptSignal.Set(); break;
                case CoreEventKind.StreamsAvailable: _streamsSignal.Set(); break;
                case CoreEventKind.DatagramReceived: _datagramSignal.Set(); break;
                case CoreEventKind.StreamReadable:
                    if (_streams.TryGetValue(e.StreamId, out var rs)) rs.OnReadable();
                    break;
                case CoreEventKind.StreamWritable:
                    if (_streams.TryGetValue(e.StreamId, out var ws)) ws.OnWritable();
                    break;
                case CoreEventKind.ConnectionIdIssued: _endpoint.Register(e.ConnectionId, this); break;
                case CoreEventKind.ConnectionIdRetired: _endpoint.Unregister(e.ConnectionId, this); break;
                case CoreEventKind.Closed: break;
            }
        }
        if (_core.State >= CoreState.Closing) FailWaiters();
    }

    private bool _failed;

    private void FailWaiters()
    {
        if (_failed) return;
        _failed = true;
        var reason = CloseException();
        _connected.TrySetException(reason);
        _acceptSignal.Set(); _streamsSignal.Set(); _datagramSignal.Set();
        foreach (var s in _streams.Values) { s.OnReadable(); s.OnWritable(); }
    }

    internal QuicException CloseException()
        => _timeoutReason ?? _core.CloseReason ?? new QuicException(QuicError.OperationAborted, null, "connection closed");

    private void Finish()
    {
        lock (Sync) FailWaiters();
        _endpoint.UnregisterAll(this);
        while (_inbound.TryDequeue(out var d)) ArrayPool<byte>.Shared.Return(d.Buffer);
        _endpoint.Release();
        _closeSent.TrySetResult();
        _closed.TrySetResult();
    }

    private void Abort(QuicException reason)
    {
        lock (Sync)
        {
            _timeoutReason ??= reason;
            _core.Abandon();
        }
        _connected.TrySetException(reason);
        Wake();
    }

    /// <summary>Opens a stream, waiting while the peer's stream limit is reached.</summary>
    public async ValueTask<QuicStream> OpenOutboundStreamAsync(QuicStreamType type, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            Task wait;
            lock (Sync)
            {
                wait = _streamsSignal.WaitTask();
                if (_core.State >= CoreState.Closing) throw CloseException();
                long id = _core.OpenStream(type == QuicStreamType.Bidirectional);
                if (id >= 0)
                {
                    var s = new QuicStream(this, id, type, _options.DefaultStreamErrorCode);
                    _streams[id] = s;
                    Wake();
                    return s;
                }
            }
            Wake(); // STREAMS_BLOCKED
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for a stream opened by the peer.</summary>
    public async ValueTask<QuicStream> AcceptInboundStreamAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            Task wait;
            lock (Sync)
            {
                wait = _acceptSignal.WaitTask();
                if (_core.TryAcceptStream(out long id))
                {
                    var type = (id & 2) != 0 ? QuicStreamType.Unidirectional : QuicStreamType.Bidirectional;
                    var s = new QuicStream(this, id, type, _options.DefaultStreamErrorCode);
                    _streams[id] = s;
                    if (!_core.HasAcceptableStream) { }
                    return s;
                }
                if (_core.State >= CoreState.Closing) throw CloseException();
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Extension (RFC 9221): sends an unreliable datagram; false if datagrams are not negotiated or it is too large.</summary>
    public bool SendDatagram(ReadOnlySpan<byte> data)
    {
        bool ok;
        lock (Sync) ok = _core.State == CoreState.Connected && _core.SendDatagram(data);
        if (ok) Wake();
        return ok;
    }

    /// <summary>Extension (RFC 9221): waits for the next received datagram.</summary>
    public async ValueTask<byte[]> ReceiveDatagramAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (Sync)
            {
                wait = _datagramSignal.WaitTask();
                if (_core.TryReceiveDatagram(out var d)) return d;
                if (_core.State >= CoreState.Closing) throw CloseException();
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection with an application error code (CONNECTION_CLOSE) and waits until it is sent.</summary>
    public async ValueTask CloseAsync(long errorCode, CancellationToken cancellationToken = default)
    {
        if (_disposed) return;
        lock (Sync) _core.Close(errorCode, Now);
        Wake();
        await _closeSent.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes (with <see cref="QuicConnectionOptions.DefaultCloseErrorCode"/> if still open) and releases the socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        if (_core is not null && _loop is not null)
        {
            bool open;
            lock (Sync) open = _core.State < CoreState.Closing;
            if (open)
            {
                try { await CloseAsync(Math.Max(0, _options.DefaultCloseErrorCode)).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
                catch (TimeoutException) { }
            }
        }
        _disposed = true;
        if (_core is not null)
        {
            lock (Sync) _core.Abandon();
        }
        Wake();
        if (_loop is not null) await _closed.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        else if (_ownsEndpoint) _endpoint?.Release();
    }

    /// <summary>Client-side string for diagnostics.</summary>
    public override string ToString() => $"QuicConnection {LocalEndPoint} -> {RemoteEndPoint}";

    internal void RemoveStream(long id)
    {
        lock (Sync) _streams.Remove(id);
    }
}
