using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;

namespace OspBridge.Bridge.Relay;

/// <summary>Numbers of the relay for <c>/api/relay</c>.</summary>
internal sealed record TurnRelayStats(int Port, int Allocations, long AllocationsCreated, long BytesToPeers, long BytesToClients, long Dropped);

/// <summary>
/// The thin driver of <see cref="TurnServerCore"/>: one UDP listening socket (the TURN server address) and one UDP
/// socket per allocation (its relayed address), each with a receive loop that feeds the core under one gate (the
/// serialized loop), then sends what the core queued; a timer runs the core's deadlines. It also mints the per-session
/// credentials handed to clients (<see cref="MintIceServer"/>).
/// </summary>
internal sealed partial class TurnRelayServer : IRelayPortSource, IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly TurnServerCore _core;
    private readonly Socket _listener;
    private readonly IPEndPoint _listenerEndPoint;
    private readonly Dictionary<IPEndPoint, Socket> _relays = [];
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _send = new byte[CoreLimits.MaxDatagramSize];
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly ITimer _timer;
    private bool _disposed;

    private TurnRelayServer(IPAddress bind, int port, ILogger logger, TimeProvider time)
    {
        _logger = logger;
        _time = time;
        _start = time.GetTimestamp();
        _core = new TurnServerCore(new TurnRelayOptions { Secret = _secret, Ports = this });
        _listener = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _listener.Bind(new IPEndPoint(bind, port));
        _listenerEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _timer = time.CreateTimer(_ => Tick(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _ = ReceiveLoopAsync(_listener, _listenerEndPoint);
    }

    /// <summary>Starts a relay listening on <paramref name="bind"/>:<paramref name="port"/> (0: any free port).</summary>
    /// <exception cref="SocketException">The port cannot be bound.</exception>
    public static TurnRelayServer Start(IPAddress bind, int port, ILogger logger, TimeProvider time) => new(bind, port, logger, time);

    /// <summary>The UDP port clients reach the relay on.</summary>
    public int Port => _listenerEndPoint.Port;

    private TimeSpan Now => _time.GetElapsedTime(_start);

    /// <summary>Credentials for one client session, valid 12 hours, for an allocation on <paramref name="relayAddress"/> (the bridge's address towards the device).</summary>
    public (string Username, string Password) MintIceServer(IPAddress relayAddress) =>
        TurnCredentials.Mint(_secret, relayAddress, Now + TimeSpan.FromHours(12));

    /// <summary>Current numbers.</summary>
    public TurnRelayStats Stats()
    {
        lock (_gate) return new TurnRelayStats(Port, _core.AllocationCount, _core.AllocationsCreated, _core.BytesToPeers, _core.BytesToClients, _core.Dropped);
    }

    bool IRelayPortSource.TryOpen(IPAddress address, out IPEndPoint? relay)
    {
        relay = null;
        var s = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.Bind(new IPEndPoint(address, 0));
        }
        catch (SocketException ex)
        {
            LogBindFailed(_logger, address, ex.Message, null);
            s.Dispose();
            return false;
        }
        relay = (IPEndPoint)s.LocalEndPoint!;
        _relays[relay] = s;
        _ = ReceiveLoopAsync(s, relay);
        return true;
    }

    void IRelayPortSource.Close(IPEndPoint relay)
    {
        if (_relays.Remove(relay, out var s)) s.Dispose();
    }

    private async Task ReceiveLoopAsync(Socket socket, IPEndPoint local)
    {
        await Task.Yield();
        var buffer = new byte[65_536];
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // ICMP port unreachable from an earlier send, or an oversized datagram: keep receiving
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException or SocketException)
            {
                return; // the allocation ended or the relay stops
            }
            var remote = (IPEndPoint)r.RemoteEndPoint;
            if (remote.Address.IsIPv4MappedToIPv6) remote = new IPEndPoint(remote.Address.MapToIPv4(), remote.Port);
            lock (_gate)
            {
                if (_disposed) return;
                _core.Receive(buffer.AsSpan(0, r.ReceivedBytes), new DatagramPath(local, remote), Now);
                Flush();
            }
        }
    }

    private void Tick()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _core.HandleDeadline(Now);
            Flush();
        }
    }

    /// <summary>Sends what the core queued, reports its events, re-arms the timer. Called under the gate.</summary>
    private void Flush()
    {
        var now = Now;
        while (_core.TryPollTransmit(_send, now, out var t))
        {
            var from = t.Path.Local is { } l && _relays.TryGetValue(l, out var rs) ? rs : _listener;
            try
            {
                from.SendTo(_send.AsSpan(0, t.Length), SocketFlags.None, t.Path.Remote!);
            }
            catch (SocketException ex)
            {
                LogSendFailed(_logger, t.Path.Remote!, ex.SocketErrorCode, null);
            }
        }
        while (_core.TryPollEvent(out var e))
        {
            if (e.Kind == TurnEventKind.Allocated) LogAllocated(_logger, e.Client, e.Relay, null);
            else LogEnded(_logger, e.Client, e.Relay, e.BytesToPeer, e.BytesToClient, null);
        }
        var d = _core.NextDeadline;
        _timer.Change(d is { } at ? (at - now < TimeSpan.Zero ? TimeSpan.Zero : at - now + TimeSpan.FromMilliseconds(1)) : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops receiving and closes every socket.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _timer.DisposeAsync().ConfigureAwait(false);
        lock (_gate)
        {
            _listener.Dispose();
            foreach (var s in _relays.Values) s.Dispose();
            _relays.Clear();
        }
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "relay: allocation for {Client} on {Relay}")]
    private static partial void LogAllocated(ILogger logger, IPEndPoint client, IPEndPoint relay, Exception? ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "relay: allocation for {Client} on {Relay} ended ({ToPeer} bytes to the peer, {ToClient} to the client)")]
    private static partial void LogEnded(ILogger logger, IPEndPoint client, IPEndPoint relay, long toPeer, long toClient, Exception? ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "relay: cannot bind a relay port on {Address}: {Reason}")]
    private static partial void LogBindFailed(ILogger logger, IPAddress address, string reason, Exception? ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "relay: send to {Remote} failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, IPEndPoint remote, SocketError error, Exception? ex);
}
