using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Tls;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>
/// A QUIC connection (shaped like System.Net.Quic's <c>QuicConnection</c>). The protocol runs in a sans-IO core;
/// this class is its driver: one <see cref="CoreLoop{TEvent}"/> per connection owns the core (no lock, no thread of
/// its own), gets the connection's datagrams from the socket's receive task, runs the core's timers, and sends what
/// it produces. API calls run on that loop; waiting for data, credit or streams awaits events from the core.
/// </summary>
public sealed partial class QuicConnection : IAsyncDisposable, IDatagramSender
{
    // _core: touched only on _loop (the interop tests read KeyUpdates through reflection by this name)
    private ConnectionCore _core = null!;
    private CoreLoop<CoreEvent> _loop = null!;
    private QuicEndpoint _endpoint = null!;
    private bool _ownsEndpoint;
    private readonly Dictionary<long, QuicStream> _streams = new();
    private readonly LoopSignal _acceptSignal = new(), _streamsSignal = new(), _datagramSignal = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private QuicConnectionOptions _options = null!;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private volatile bool _disposed;
    private QuicException? _abortReason;
    private bool _failed;
    private int _finished;
    internal Action<QuicConnection>? OnConnectedForListener;
    internal Action<QuicConnection>? OnClosedForListener;

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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Instance property of System.Net.Quic.QuicConnection's surface, which this type mirrors.")]
    public System.Security.Authentication.SslProtocols SslProtocol => System.Security.Authentication.SslProtocols.Tls13;

    /// <summary>Extension: largest DATAGRAM payload the peer accepts now (0: datagrams not available).</summary>
    public int MaxDatagramSize
    {
        get
        {
            ulong m = _core.PeerParameters?.MaxDatagramFrameSize ?? 0; // set once during the handshake
            return m == 0 ? 0 : (int)Math.Min(m - 4, 1100);
        }
    }

    /// <summary>The core, for code running on the loop (streams) and for tests.</summary>
    internal ConnectionCore Core => _core;

    internal bool IsClient { get; private set; }

    internal QuicException CloseException()
        => _abortReason ?? _core.CloseReason ?? new QuicException(QuicError.OperationAborted, null, "connection closed");

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
        var c = new QuicConnection { _options = options, RemoteEndPoint = remote, _ownsEndpoint = true, IsClient = true, _logger = options.Logger };
        c.TargetHostName = tlsOpts.TargetHost ?? (options.RemoteEndPoint as DnsEndPoint)?.Host ?? "";
        var core = CoreOptionsFrom(options, isClient: true);
        var bind = options.LocalEndPoint ?? new IPEndPoint(remote.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        var socket = options.SocketFactory.Open(new UdpSocketOptions
        {
            LocalEndPoint = bind,
            ReceivePacketInfo = false,
            ReceiveBufferSize = 8 << 20,
            SendBufferSize = 8 << 20,
            ReceiveOnIoThread = true, // issue 14: the receive task's pass (decrypt, ACK) runs on the epoll thread, no pool hop
            DontFragment = true, // RFC 9000 §14: never IP-fragmented; Path MTU probes that do not fit fail instead
        });
        c._endpoint = new QuicEndpoint(socket, core.LocalCidLength, options.Logger);
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
            Random = core.Random,
        }), remote);
        c.StartLoop(options.TimeProvider);
        c._endpoint.StartSingle(c);
        c._loop.Post(now => c._core.Start(now));
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
            HandshakeTimeout = o.HandshakeTimeout > TimeSpan.Zero ? o.HandshakeTimeout : TimeSpan.FromSeconds(10),
            KeepAliveInterval = o.KeepAliveInterval,
            InitialMaxData = (ulong)w.Connection,
            InitialMaxStreamDataBidiLocal = (ulong)w.LocallyInitiatedBidirectionalStream,
            InitialMaxStreamDataBidiRemote = (ulong)w.RemotelyInitiatedBidirectionalStream,
            InitialMaxStreamDataUni = (ulong)w.UnidirectionalStream,
            MaxInboundBidiStreams = (ulong)o.MaxInboundBidirectionalStreams,
            MaxInboundUniStreams = (ulong)o.MaxInboundUnidirectionalStreams,
            MaxDatagramFrameSize = (ulong)o.MaxDatagramFrameSize,
            KeyUpdateInterval = o.KeyUpdateInterval,
            MaxDatagramSize = Math.Min(1452, o.MaxUdpPayloadSize),
            MaxUdpPayloadSize = o.MaxUdpPayloadSize,
            CongestionControl = (o.CongestionControl ?? DefaultCongestionControl) == QuicCongestionControl.Cubic
                ? Transport.CongestionAlgorithm.Cubic : Transport.CongestionAlgorithm.NewReno,
        };
    }

    /// <summary>The congestion controller when the options name none (<c>OSPBRIDGE_QUIC_CC</c> for A/B runs).</summary>
    private static readonly QuicCongestionControl DefaultCongestionControl =
        Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_CC") switch
        {
            "cubic" => QuicCongestionControl.Cubic,
            "newreno" => QuicCongestionControl.NewReno,
            _ => QuicCongestionControl.NewReno,
        };

    /// <summary>Server side: creates the connection object before its options are known (the listener's callback receives it).</summary>
    internal static QuicConnection CreateInbound(QuicEndpoint endpoint, IPEndPoint peer) => new() { _endpoint = endpoint, RemoteEndPoint = peer };

    /// <summary>Server side: builds the core and the loop, registers the connection's CIDs and feeds it the client's first datagram.</summary>
    internal void InitInbound(QuicServerConnectionOptions options, QuicListenerOptions listenerOptions, in AcceptInfo info, byte[] statelessResetKey,
        byte[] firstDatagram, DatagramPath path)
    {
        options.ValidateCommon();
        if (options.ConnectionIdLength is not (0 or 8)) throw new ArgumentException("listener connections use 8-byte or zero-length connection IDs");
        var tlsOpts = options.ServerAuthenticationOptions ?? throw new ArgumentException("ServerAuthenticationOptions is required");
        var cert = tlsOpts.ServerCertificate as X509Certificate2
            ?? tlsOpts.ServerCertificateContext?.TargetCertificate
            ?? throw new ArgumentException("ServerAuthenticationOptions.ServerCertificate (X509Certificate2 with private key) is required");
        _options = options;
        _logger = options.Logger is Microsoft.Extensions.Logging.Abstractions.NullLogger ? listenerOptions.Logger : options.Logger;
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
            Random = core.Random,
        }), info);
        StartLoop(listenerOptions.TimeProvider);
        _endpoint.AddRef();
        _loop.TryPostDatagram(firstDatagram, path);
        _endpoint.Register(info.ClientDcid, this);
        _endpoint.Register(_core.LocalConnectionId, this);
        if (_core.LocalConnectionId.Length == 0) _endpoint.RegisterAddress(RemoteEndPoint, this);
    }

    private void StartLoop(TimeProvider time)
    {
        _loop = new CoreLoop<CoreEvent>(_core, this, OnCoreEvent, new CoreLoopOptions
        {
            TimeProvider = time,
            Logger = _logger,
            Name = "quic " + RemoteEndPoint,
            MaxDatagramSize = QuicConnectionOptions.MaxSupportedUdpPayloadSize, // send slots hold a full-size Path MTU probe
            RunPassOnCaller = true, // issue 14: stream reads/writes and timer expiries run the idle loop's pass on their own thread
            TimersOnIoThread = true, // issue 14: deadlines fire on the epoll thread that also receives (timerfd), no pool hop
        });
        _loop.Start();
        _ = _loop.Completion.ContinueWith(static (t, s) => ((QuicConnection)s!).OnLoopStopped(t), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>From the socket's receive task: queues a datagram for this connection's loop without waking it (then <see cref="WakeLoop"/>); false: dropped.</summary>
    internal bool Queue(ReadOnlySpan<byte> datagram, DatagramPath path) => _loop is { } l && l.TryQueueDatagram(datagram, path);

    /// <summary>From the socket's receive task: hands a whole batch of this connection's datagrams to its loop (no copy, no wake: then <see cref="WakeLoop"/>); false: not taken.</summary>
    internal bool QueueBatch(DatagramBatch batch, Action<DatagramBatch> release) => _loop is { } l && l.TryQueueBatch(batch, release);

    /// <summary>From the socket's receive task, after a receive batch: runs the loop over what was queued (inline: on this thread).</summary>
    internal void WakeLoop(bool inline) => _loop?.Wake(inline);

    /// <summary>Tests: the loop's counters (wake-ups, inline wake-ups, drains, sends).</summary>
    internal CoreLoopCounters LoopCounters => _loop.Counters;

    /// <summary>Tests: received datagrams the loop dropped (inbox full or stopped).</summary>
    internal long DroppedDatagrams => _loop.DroppedDatagrams;

    /// <summary>Tests and benches: the connection's loop (e.g. its receive free lists).</summary>
    internal CoreLoop<CoreEvent> Loop => _loop;

    /// <summary>Tests: receive batches this connection's socket handed to a loop whole, datagrams in them, datagrams copied one by one.</summary>
    /// <summary>This connection's endpoint (benches read its counters).</summary>
    internal QuicEndpoint Endpoint => _endpoint;

    internal (long Batches, long HandedOff, long Copied, long CopiedNoSpare) EndpointCounters => (_endpoint.BatchesHandedOff, _endpoint.DatagramsHandedOff, _endpoint.DatagramsCopied, _endpoint.DatagramsCopiedNoSpare);

    /// <summary>Runs <paramref name="action"/> on the connection's loop.</summary>
    internal Task<T> InvokeAsync<T>(Func<TimeSpan, T> action, CancellationToken cancellationToken) => _loop.InvokeAsync(action, cancellationToken);

    /// <summary>Queues <paramref name="action"/> on the connection's loop (fire and forget).</summary>
    internal void Post(Action<TimeSpan> action) => _loop.Post(action);

    /// <summary>
    /// Runs <c>action(state, now)</c> on the loop without allocating (issue 14: the stream API): a struct entry in the
    /// loop's inbox and a wake — with <paramref name="inline"/> an idle loop's pass runs on this thread before this
    /// returns. False when the loop no longer takes work (stopping or stopped). <paramref name="action"/> must not throw
    /// (it would stop the loop) and should be a cached delegate.
    /// </summary>
    internal bool TryRunOnLoop(Action<object?, TimeSpan> action, object state, bool inline = true)
    {
        if (_loop is not { } loop || !loop.TryQueue(action, state)) return false;
        loop.Wake(inline);
        return true;
    }

    /// <summary>On the loop: queues <c>action(state, now)</c> for the loop's next drain (no wake needed: the loop runs); false when the inbox is closed.</summary>
    internal bool TryQueueOnLoop(Action<object?, TimeSpan> action, object state) => _loop.TryQueue(action, state);

    /// <summary>The loop's clock (the <c>now</c> the core sees).</summary>
    internal TimeSpan Now => _loop.Clock.Now;

    /// <summary>What a call finds when the loop no longer runs: disposed, or the connection's close reason.</summary>
    internal Exception StoppedException() => _disposed ? new ObjectDisposedException(nameof(QuicConnection)) : CloseException();

    /// <summary>Tests: called on the loop in every send (a test throws here to make the loop fail as a core bug would).</summary>
    internal Action? SendHookForTests;

    /// <summary>The loop's transmits: to the shared socket; notes when a CONNECTION_CLOSE has gone out.</summary>
    void IDatagramSender.Send(DatagramBatch batch)
    {
        SendHookForTests?.Invoke();
        _endpoint.Sender.Send(batch);
        if (_core.State >= CoreState.Closing) _closeSent.TrySetResult();
    }

    /// <summary>Core events, on the loop: complete the awaiters they concern.</summary>
    private void OnCoreEvent(CoreEvent e)
    {
        switch (e.Kind)
        {
            case CoreEventKind.Connected:
                _connected.TrySetResult();
                OnConnectedForListener?.Invoke(this);
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
            case CoreEventKind.Closed:
                FailWaiters();
                _closeSent.TrySetResult();
                // the loop cannot stop itself from inside its own handler
                _ = Task.Run(ShutdownAsync);
                return;
        }
        if (_core.State >= CoreState.Closing) FailWaiters();
    }

    private void FailWaiters()
    {
        if (_failed) return;
        _failed = true;
        var reason = CloseException();
        _connected.TrySetException(reason);
        _acceptSignal.Set(); _streamsSignal.Set(); _datagramSignal.Set();
        foreach (var s in _streams.Values) { s.OnReadable(); s.OnWritable(); }
    }

    private void OnLoopStopped(Task completion)
    {
        if (completion.IsFaulted)
        {
            var error = completion.Exception!.InnerException!;
            _abortReason ??= LoopFailure(error);
            SendInternalErrorClose(error);
            _connected.TrySetException(_abortReason);
        }
        _ = ShutdownAsync();
    }

    /// <summary>
    /// After the loop failed (a bug: the core or an event handler threw): the loop no longer touches the core, so this
    /// thread may. Tells the peer at once — CONNECTION_CLOSE with INTERNAL_ERROR (RFC 9000 §20.1, 0x1) — instead of
    /// leaving it to wait out the idle timeout. Best effort: the core may be in no state to build the packet.
    /// </summary>
    private void SendInternalErrorClose(Exception error)
    {
        bool sent = false;
        try
        {
            var now = _loop.Clock.Now;
            _core.CloseOnInternalError("internal error", now);
            var batch = new DatagramBatch(1, QuicConnectionOptions.MaxSupportedUdpPayloadSize);
            if (_core.TryPollTransmit(batch.NextSlot, now, out var t))
            {
                batch.Commit(t.Length, t.Path);
                _endpoint.Sender.Send(batch);
                sent = true;
            }
            batch.ReleaseBuffer();
        }
        catch (Exception e)
        {
            CloseNotSent(_logger, RemoteEndPoint, e);
        }
        LoopFailedClosing(_logger, RemoteEndPoint, sent, error);
    }

    private static readonly Action<ILogger, IPEndPoint, bool, Exception?> LoopFailedClosing =
        LoggerMessage.Define<IPEndPoint, bool>(LogLevel.Error, new EventId(20, "QuicConnectionLoopFailed"),
            "QUIC connection to {Remote}: the connection loop failed; closing with INTERNAL_ERROR (CONNECTION_CLOSE sent: {Sent})");

    private static readonly Action<ILogger, IPEndPoint, Exception?> CloseNotSent =
        LoggerMessage.Define<IPEndPoint>(LogLevel.Warning, new EventId(21, "QuicInternalErrorCloseFailed"),
            "QUIC connection to {Remote}: could not send CONNECTION_CLOSE after the loop failed");

    /// <summary>Stops the loop and leaves the socket (once): after Closed, a loop failure, or disposal.</summary>
    private async Task ShutdownAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0) { await _closed.Task.ConfigureAwait(false); return; }
        await _loop.DisposeAsync().ConfigureAwait(false);
        if (CoreCounters.Enabled)
            Console.Error.WriteLine($"quic stats {(IsClient ? "client" : "server")} {RemoteEndPoint}: {_loop.Counters} core {_core.Counters} " +
                $"packets sent={_core.PacketsSent} received={_core.PacketsReceived} lost={_core.PacketsLost} cc={_core.Congestion.Algorithm} events={_core.Congestion.CongestionEvents} cwnd={_core.Congestion.Window} mtu={_core.CurrentMaxDatagramSize} srtt={_core.Rtt.SmoothedRtt.TotalMilliseconds:F2}ms " +
                $"endpoint batches={_endpoint.BatchesHandedOff} handed={_endpoint.DatagramsHandedOff} copied={_endpoint.DatagramsCopied} " +
                $"process jit={System.Runtime.JitInfo.GetCompiledMethodCount()} methods {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F0}ms");
        // the loop no longer runs: what remains pending fails with the close reason (a stream operation whose loop work
        // was still queued when the loop stopped is never run, so it is failed here whatever ran before)
        FailWaiters();
        var stopped = StoppedException();
        foreach (var s in _streams.Values) s.FailOperations(stopped);
        _closeSent.TrySetResult();
        _endpoint.UnregisterAll(this);
        OnClosedForListener?.Invoke(this);
        await _endpoint.ReleaseAsync().ConfigureAwait(false);
        _closed.TrySetResult();
    }

    private void Abort(QuicException reason)
    {
        _abortReason ??= reason;
        _connected.TrySetException(reason);
        if (!_loop.Post(_ => _core.Abandon())) _ = ShutdownAsync();
    }

    /// <summary>Opens a stream, waiting while the peer's stream limit is reached.</summary>
    public async ValueTask<QuicStream> OpenOutboundStreamAsync(QuicStreamType type, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            var (stream, wait) = await Call(_ =>
            {
                if (_core.State >= CoreState.Closing) throw CloseException();
                var wait = _streamsSignal.Wait();
                long id = _core.OpenStream(type == QuicStreamType.Bidirectional);
                if (id < 0) return ((QuicStream?)null, wait); // STREAMS_BLOCKED goes out with the loop's flush
                var s = new QuicStream(this, id, type, _options.DefaultStreamErrorCode);
                _streams[id] = s;
                return (s, wait);
            }, cancellationToken).ConfigureAwait(false);
            if (stream is not null) return stream;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Opens a stream and writes its first bytes in one call — with <paramref name="completeWrites"/> also FIN — so the
    /// stream's first packet carries them: one loop pass instead of one to open, one to write and one to finish (issue 11,
    /// session 17: a PeerFetch request over LP2P QUIC is one HEADERS frame and FIN). Waits while the peer's stream limit
    /// is reached; data beyond the send buffer or the peer's flow-control credit waits for it as
    /// <see cref="QuicStream.WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> does (the stream's send buffer
    /// takes up to 4 MiB; nothing is sent beyond the peer's credit), and the call completes once all of
    /// <paramref name="data"/> is in the send buffer. The loop's pass for it is queued rather than run on the calling
    /// thread, so streams opened together (a burst of requests) share a pass and packets: each call costs a thread-pool
    /// turn of latency when the loop was idle. If it fails or is cancelled after the stream was opened, the
    /// stream is aborted both ways.
    /// </summary>
    public async ValueTask<QuicStream> OpenOutboundStreamAsync(QuicStreamType type, ReadOnlyMemory<byte> data, bool completeWrites, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var stream = new QuicStream(this, type, _options.DefaultStreamErrorCode);
        while (true)
        {
            try
            {
                await stream.OpenWithDataAsync(data, completeWrites, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                if (stream.Id >= 0)
                {
                    stream.Abort(QuicAbortDirection.Both, Math.Max(0, _options.DefaultStreamErrorCode));
                    await stream.DisposeAsync().ConfigureAwait(false);
                }
                throw;
            }
            if (stream.Id >= 0) return stream;
            await stream.StreamsAvailable!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>On the loop: the task that completes when the peer grants more streams (take it before trying to open one).</summary>
    internal Task StreamsSignalOnLoop() => _streamsSignal.Wait();

    /// <summary>On the loop: a stream we just opened is registered for its events.</summary>
    internal void RegisterStreamOnLoop(QuicStream stream) => _streams[stream.Id] = stream;

    /// <summary>
    /// Streams the peer opened that a loop call already took from the core, in order, for the next accepts (issue 11,
    /// session 16: 64 concurrent q2q requests arrive together; one loop call takes them all instead of one call each).
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<QuicStream> _accepted = new();

    /// <summary>Waits for a stream opened by the peer.</summary>
    public async ValueTask<QuicStream> AcceptInboundStreamAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            if (_accepted.TryDequeue(out var ready)) return ready;
            var (stream, wait) = await Call(_ =>
            {
                if (_accepted.TryDequeue(out var first)) return (first, Task.CompletedTask);
                if (_core.TryAcceptStream(out long id))
                {
                    var s = NewAcceptedStream(id);
                    // the others the peer opened meanwhile: taken now, handed out by the next accepts without a loop call
                    while (_core.TryAcceptStream(out long more)) _accepted.Enqueue(NewAcceptedStream(more));
                    return (s, Task.CompletedTask);
                }
                if (_core.State >= CoreState.Closing) throw CloseException();
                return ((QuicStream?)null, _acceptSignal.Wait());
            }, cancellationToken).ConfigureAwait(false);
            if (stream is not null) return stream;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>On the loop: the object for a stream the peer opened, registered for its events.</summary>
    private QuicStream NewAcceptedStream(long id)
    {
        var type = (id & 2) != 0 ? QuicStreamType.Unidirectional : QuicStreamType.Bidirectional;
        var s = new QuicStream(this, id, type, _options.DefaultStreamErrorCode);
        _streams[id] = s;
        return s;
    }

    /// <summary>Extension (RFC 9221): sends an unreliable datagram; false if datagrams are not negotiated or it is too large.</summary>
    public bool SendDatagram(ReadOnlySpan<byte> data)
    {
        if (_disposed) return false;
        // the size check needs no loop: the peer's limit is fixed once the handshake completed
        int max = MaxDatagramSize;
        if (max == 0 || data.Length > max) return false;
        var copy = data.ToArray();
        return _loop.Post(_ => { if (_core.State == CoreState.Connected) _core.SendDatagram(copy); });
    }

    /// <summary>Extension (RFC 9221): waits for the next received datagram.</summary>
    public async ValueTask<byte[]> ReceiveDatagramAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var (datagram, wait) = await Call(_ =>
            {
                if (_core.TryReceiveDatagram(out var d)) return (d, Task.CompletedTask);
                if (_core.State >= CoreState.Closing) throw CloseException();
                return ((byte[]?)null, _datagramSignal.Wait());
            }, cancellationToken).ConfigureAwait(false);
            if (datagram is not null) return datagram;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection with an application error code (CONNECTION_CLOSE) and waits until it is sent.</summary>
    public async ValueTask CloseAsync(long errorCode, CancellationToken cancellationToken = default)
    {
        if (_disposed) return;
        if (!_loop.Post(now => _core.Close(errorCode, now))) return;
        await _closeSent.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes (with <see cref="QuicConnectionOptions.DefaultCloseErrorCode"/> if still open) and releases the socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (_loop is null)
        {
            if (_ownsEndpoint) await (_endpoint?.ReleaseAsync() ?? Task.CompletedTask).ConfigureAwait(false);
            return;
        }
        // close if still open; the loop flushes the CONNECTION_CLOSE before it stops
        if (_loop.Post(now =>
            {
                if (_core.State < CoreState.Closing) _core.Close(Math.Max(0, _options.DefaultCloseErrorCode), now);
                else _closeSent.TrySetResult(); // closing already (sent, or the peer closed)
            }))
        {
            try { await _closeSent.Task.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
            catch (TimeoutException) { }
        }
        _abortReason ??= new QuicException(QuicError.OperationAborted, null, "connection disposed");
        _loop.Post(_ => _core.Abandon());
        await ShutdownAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
    }

    /// <summary>Client-side string for diagnostics.</summary>
    public override string ToString() => $"QuicConnection {LocalEndPoint} -> {RemoteEndPoint}";

    /// <summary>Runs <paramref name="action"/> on the loop; a stopped loop surfaces as the connection's close reason.</summary>
    internal async Task<T> Call<T>(Func<TimeSpan, T> action, CancellationToken cancellationToken)
    {
        try
        {
            return await _loop.InvokeAsync(action, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException) when (!_disposed)
        {
            throw CloseException();
        }
        catch (Exception e) when (e is not QuicException and not OperationCanceledException and not ObjectDisposedException)
        {
            // The loop failed in the pass that ran this call (a bug in the core or a handler; the calls' own code throws
            // only QuicException): the connection's failure.
            throw LoopFailure(e);
        }
    }

    /// <summary>The connection's close reason after its loop failed with <paramref name="error"/>.</summary>
    private QuicException LoopFailure(Exception error) => _abortReason ??
        new QuicException(QuicError.InternalError, null, "the connection loop failed: " + error.Message, error)
        {
            TransportErrorCode = (long)Quic.TransportErrorCode.InternalError,
        };

    /// <summary>Tests, on the loop: the stream objects the connection still routes events to.</summary>
    internal int StreamObjectCount => _streams.Count;

    /// <summary>
    /// A disposed stream leaves the loop's table at the loop's next pass, whenever that runs: queued without a wake (no
    /// closure, no pass of its own). Issue 11, session 16: a q2q request disposes a stream on each end, and the old
    /// <c>Post</c> woke an idle loop on a pool thread for each — a thread hop per request and side just to drop a
    /// dictionary entry. Nothing waits for it: events for the id find a finished stream.
    /// </summary>
    internal void ForgetStream(QuicStream stream)
    {
        if (_loop is { } loop) loop.TryQueue(ForgetOnLoopAction, stream);
    }

    private static readonly Action<object?, TimeSpan> ForgetOnLoopAction = static (state, _) =>
    {
        var stream = (QuicStream)state!;
        var conn = stream.Connection;
        // only this stream's entry (the id is not reused, but stay exact)
        if (conn._streams.TryGetValue(stream.Id, out var s) && ReferenceEquals(s, stream)) conn._streams.Remove(stream.Id);
    };
}
