using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Bridge.Relay;

/// <summary>Numbers of the relay for <c>/api/relay</c>.</summary>
internal sealed record TurnRelayStats(int Port, int Allocations, long AllocationsCreated, long BytesToPeers, long BytesToClients, long Dropped);

/// <summary>
/// The thin driver of <see cref="TurnServerCore"/> on the house's driver model: one <see cref="CoreLoop{TEvent}"/> owns
/// the core (one serialized loop; its timer is armed at the core's <see cref="TurnServerCore.NextDeadline"/>), one
/// <see cref="IDatagramSocket"/> is the TURN server address and one more per allocation is its relayed address; each
/// socket's <see cref="DatagramReceiver"/> posts datagrams to the loop with the socket's address as <c>Local</c>, and
/// the loop's transmits leave from the socket whose address is their <c>Local</c>. Relay ports are opened and closed by
/// the core on the loop (<see cref="IRelayPortSource"/>), so the socket table needs no lock. It also mints the
/// per-session credentials handed to clients (<see cref="MintIceServer"/>).
/// </summary>
internal sealed partial class TurnRelayServer : IRelayPortSource, IDatagramSender, IAsyncDisposable
{
    private const int ReceiveSlotSize = 2048; // > TurnRelayOptions.MaxPayload + the TURN framing; bigger ones are truncated and dropped by the core
    private readonly TurnServerCore _core;
    private readonly CoreLoop<TurnEvent> _loop;
    private readonly IDatagramSocketFactory _factory;
    private readonly IDatagramSocket _listener;
    private readonly IPEndPoint _listenerEndPoint;
    // Relay sockets by their address; written and read on the loop only (TryOpen/Close come from the core, Send from the loop).
    private readonly Dictionary<IPEndPoint, IDatagramSocket> _relays = [];
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private TurnStreamListener? _tcp;
    private TurnStreamListener? _tls;
    private int _disposed;

    private TurnRelayServer(IPAddress bind, int port, ILogger logger, TimeProvider time, IDatagramSocketFactory factory, Func<IPAddress, bool>? peerAllowed)
    {
        _logger = logger;
        _factory = factory;
        _core = new TurnServerCore(new TurnRelayOptions { Secret = _secret, Ports = this, PeerAllowed = peerAllowed ?? TurnRelayOptions.DefaultPeerAllowed });
        // Packet info on the listener: a reply leaves from the address its request arrived on (when bound to any).
        _listener = factory.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(bind, port) });
        _listenerEndPoint = _listener.LocalEndPoint;
        _loop = new CoreLoop<TurnEvent>(_core, this, OnEvent, new CoreLoopOptions
        {
            TimeProvider = time,
            Logger = logger,
            Name = "relay",
            MaxDatagramSize = ReceiveSlotSize + 64,
        });
        _loop.Start();
        _ = DatagramReceiver.RunAsync(_listener, (d, p) => _loop.TryPostDatagram(d, p), _logger, batchSize: 16, slotSize: ReceiveSlotSize, _stop.Token);
    }

    /// <summary>Starts a relay listening on <paramref name="bind"/>:<paramref name="port"/> (0: any free port).</summary>
    /// <param name="bind">The listening address.</param>
    /// <param name="port">The listening port.</param>
    /// <param name="logger">Where allocations are logged.</param>
    /// <param name="time">The loop's clock and timers.</param>
    /// <param name="factory">Opens the sockets (default: the platform's best).</param>
    /// <param name="peerAllowed">Which peers allocations may reach (default <see cref="TurnRelayOptions.DefaultPeerAllowed"/>; tests allow loopback).</param>
    /// <exception cref="SocketException">The port cannot be bound.</exception>
    public static TurnRelayServer Start(IPAddress bind, int port, ILogger logger, TimeProvider time, IDatagramSocketFactory? factory = null, Func<IPAddress, bool>? peerAllowed = null) =>
        new(bind, port, logger, time, factory ?? UdpSocketFactory.Default, peerAllowed);

    /// <summary>The UDP port clients reach the relay on.</summary>
    public int Port => _listenerEndPoint.Port;

    /// <summary>The TCP port (<c>turn:…?transport=tcp</c>), or null when not listening on TCP.</summary>
    public int? TcpPort => _tcp?.LocalEndPoint.Port;

    /// <summary>The TLS port (<c>turns:…?transport=tcp</c>), or null when not listening on TLS.</summary>
    public int? TlsPort => _tls?.LocalEndPoint.Port;

    /// <summary>
    /// Also listens for clients over TCP on <paramref name="tcpPort"/> and, with <paramref name="certificate"/>, over TLS on
    /// <paramref name="tlsPort"/> (0: any free port each; RFC 5766 §2.1 client transports, the relayed side stays UDP;
    /// <see cref="TurnStreamListener"/>). Call once, right after <see cref="Start"/>.
    /// </summary>
    /// <exception cref="SocketException">A port cannot be bound.</exception>
    public void ListenStreams(IPAddress bind, int tcpPort, X509Certificate2? certificate, int tlsPort, TurnStreamLimits? limits = null)
    {
        if (_tcp is not null) throw new InvalidOperationException("the relay already listens on TCP");
        _tcp = new TurnStreamListener(bind, tcpPort, null, PostFrame, ClientGone, _logger, limits);
        if (certificate is not null) _tls = new TurnStreamListener(bind, tlsPort, certificate, PostFrame, ClientGone, _logger, limits);
    }

    private bool PostFrame(ReadOnlyMemory<byte> frame, DatagramPath path) => _loop.TryPostDatagram(frame.Span, path);

    private void ClientGone(IPEndPoint client)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        try { _loop.Post(_ => _core.RemoveClient(client)); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Credentials for one client session, valid 12 hours, for an allocation on <paramref name="relayAddress"/> (the bridge's address towards the device).</summary>
    public (string Username, string Password) MintIceServer(IPAddress relayAddress) =>
        TurnCredentials.Mint(_secret, relayAddress, _loop.Clock.Now + TimeSpan.FromHours(12));

    /// <summary>Current numbers (read on the loop).</summary>
    public Task<TurnRelayStats> StatsAsync(CancellationToken cancellationToken = default) =>
        _loop.InvokeAsync(_ => new TurnRelayStats(Port, _core.AllocationCount, _core.AllocationsCreated, _core.BytesToPeers, _core.BytesToClients, _core.Dropped), cancellationToken);

    /// <summary>Received datagrams the loop dropped because its inbox was full.</summary>
    public long InboxDropped => _loop.DroppedDatagrams;

    /// <summary>Receives on a relayed address: every datagram is posted with that address as <c>Local</c> (how the core tells peers from clients).</summary>
    private void StartReceiving(IDatagramSocket socket)
    {
        var local = socket.LocalEndPoint;
        _ = DatagramReceiver.RunAsync(socket,
            (d, p) => _loop.TryPostDatagram(d, new DatagramPath(local, p.Remote, p.InterfaceIndex)),
            _logger, batchSize: 16, slotSize: ReceiveSlotSize, _stop.Token);
    }

    bool IRelayPortSource.TryOpen(IPAddress address, out IPEndPoint? relay)
    {
        relay = null;
        IDatagramSocket s;
        try
        {
            s = _factory.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(address, 0), ReceivePacketInfo = false });
        }
        catch (SocketException ex)
        {
            LogBindFailed(_logger, address, ex.Message, null);
            return false;
        }
        relay = s.LocalEndPoint;
        _relays[relay] = s;
        StartReceiving(s);
        return true;
    }

    void IRelayPortSource.Close(IPEndPoint relay)
    {
        if (_relays.Remove(relay, out var s)) s.Dispose();
    }

    /// <summary>Called by the loop: each transmit leaves from the socket whose address is its <c>Local</c> (none: the listener).</summary>
    void IDatagramSender.Send(DatagramBatch batch)
    {
        for (int i = 0; i < batch.Count; i++)
        {
            var path = batch.PathAt(i);
            if (path.Remote is null) continue;
            if (_tcp is not null && (_tcp.TrySend(batch[i], path) || _tls?.TrySend(batch[i], path) == true)) continue;
            var from = path.Local is { } l && _relays.TryGetValue(l, out var rs) ? rs : _listener;
            from.Send(batch[i], path);
        }
    }

    private void OnEvent(TurnEvent e)
    {
        if (e.Kind == TurnEventKind.Allocated) LogAllocated(_logger, e.Client, e.Relay, null);
        else LogEnded(_logger, e.Client, e.Relay, e.BytesToPeer, e.BytesToClient, null);
    }

    /// <summary>Stops the loop and closes every socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_tcp is not null) await _tcp.DisposeAsync().ConfigureAwait(false);
        if (_tls is not null) await _tls.DisposeAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _loop.DisposeAsync().ConfigureAwait(false);
        // The loop has stopped: nothing else touches the relay table now.
        foreach (var s in _relays.Values) s.Dispose();
        _relays.Clear();
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "relay: allocation for {Client} on {Relay}")]
    private static partial void LogAllocated(ILogger logger, IPEndPoint client, IPEndPoint relay, Exception? ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "relay: allocation for {Client} on {Relay} ended ({ToPeer} bytes to the peer, {ToClient} to the client)")]
    private static partial void LogEnded(ILogger logger, IPEndPoint client, IPEndPoint relay, long toPeer, long toClient, Exception? ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "relay: cannot bind a relay port on {Address}: {Reason}")]
    private static partial void LogBindFailed(ILogger logger, IPAddress address, string reason, Exception? ex);
}
