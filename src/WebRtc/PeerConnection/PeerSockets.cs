using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.WebRtc;

/// <summary>
/// The I/O side of one peer connection: one <see cref="IDatagramSocket"/> per local address (from the configured
/// <see cref="IDatagramSocketFactory"/>), a receive task per socket that queues every datagram of a receive batch to
/// the connection's loop with the socket's address as <c>Local</c> and then wakes the loop once, and sends routed by
/// each transmit's <c>Local</c> (the ICE base). RFC 7983 demultiplexing happens in <see cref="PeerConnectionCore"/>.
/// </summary>
/// <remarks>
/// Issue 14 (session 12): with <c>inline</c> the sockets are opened with <see cref="UdpSocketOptions.ReceiveOnIoThread"/>
/// and the loop's pass for a batch runs on the receiving thread (<see cref="CoreLoop{TEvent}.Wake"/> inline): receive →
/// DTLS → SCTP → SACK and the flush of what the batch made the core send happen on the epoll thread, without a
/// thread-pool hop. Every socket belongs to this one connection, so the batch always went to one loop.
/// </remarks>
internal sealed class PeerSockets : IDatagramSender, IDisposable
{
    private readonly IDatagramSocketFactory _factory;
    private readonly ILogger _logger;
    private readonly int _bufferSize;
    private readonly bool _inline;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<Task> _receivers = [];
    private volatile IDatagramSocket[] _sockets = [];

    public PeerSockets(IDatagramSocketFactory factory, ILogger logger, int bufferSize, bool inline)
    {
        _factory = factory;
        _logger = logger;
        _bufferSize = bufferSize;
        _inline = inline;
    }

    /// <summary>Addresses to use: explicit ones, or the unicast addresses of the named (or all up) interfaces.</summary>
    public static List<IPAddress> ResolveAddresses(RTCConfiguration config)
    {
        if (config.LocalAddresses is { Count: > 0 } explicitList) return explicitList.ToList();
        var result = new List<IPAddress>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (config.Interfaces is { } names && !names.Contains(nic.Name, StringComparer.Ordinal)) continue;
            if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown)) continue;
            bool loop = nic.NetworkInterfaceType == NetworkInterfaceType.Loopback;
            if (loop && !config.IncludeLoopback && config.Interfaces is null) continue;
            foreach (var ua in nic.GetIPProperties().UnicastAddresses)
            {
                var a = ua.Address;
                if (a.AddressFamily == AddressFamily.InterNetworkV6 && (a.IsIPv6LinkLocal || a.IsIPv6Multicast)) continue;
                if (a.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) continue;
                result.Add(a);
            }
        }
        return result;
    }

    /// <summary>Opens a socket on <paramref name="address"/> (port 0) and starts receiving into <paramref name="loop"/>; null when binding failed.</summary>
    public IPEndPoint? Open(IPAddress address, CoreLoop<PeerConnectionEvent> loop)
    {
        IDatagramSocket socket;
        try
        {
            socket = _factory.Open(new UdpSocketOptions
            {
                LocalEndPoint = new IPEndPoint(address, 0),
                ReceivePacketInfo = false,
                ReceiveBufferSize = _bufferSize,
                SendBufferSize = _bufferSize,
                ReceiveOnIoThread = _inline,
            });
        }
        catch (SocketException ex)
        {
            WebRtcLog.CannotBind(_logger, address, ex.Message);
            return null;
        }
        var local = socket.LocalEndPoint;
        _sockets = [.. _sockets, socket];
        _receivers.Add(ReceiveAsync(socket, local, loop, _inline, _logger, _cts.Token));
        return local;
    }

    /// <summary>
    /// Receives until cancelled or the socket is disposed: each batch's datagrams are copied into the loop's inbox
    /// without waking it, then the loop is woken once (inline: its pass runs on this thread). Errors that concern one
    /// datagram (ICMP unreachable, truncation) are skipped; bounded, so a dead socket ends the task.
    /// </summary>
    private static Task ReceiveAsync(IDatagramSocket socket, IPEndPoint local, CoreLoop<PeerConnectionEvent> loop, bool inline,
        ILogger logger, CancellationToken cancellationToken) =>
        DatagramReceiver.RunAsync(socket,
            (datagram, path) => loop.TryQueueDatagram(datagram, new DatagramPath(local, path.Remote, path.InterfaceIndex)), // false: inbox full, counted as a drop
            afterBatch: () => loop.Wake(inline), logger, batchSize: 16, slotSize: 8192, cancellationToken);

    /// <inheritdoc/>
    public void Send(DatagramBatch batch)
    {
        var sockets = _sockets;
        // Common case (connected: everything goes out of the selected pair's socket): hand the whole batch to that
        // socket, which sends it with one sendmmsg (and UDP GSO) instead of one sendto per datagram — also a batch of one
        // (a lone SACK): the per-datagram path's Socket.SendTo(EndPoint) allocates a SocketAddress per call (issue 14).
        if (batch.Count > 0 && SocketForAll(sockets, batch) is { } one)
        {
            one.Send(batch);
            return;
        }
        for (int i = 0; i < batch.Count; i++)
        {
            var path = batch.PathAt(i);
            if (path.Remote is null) continue;
            foreach (var s in sockets)
            {
                if (path.Local is not null && !s.LocalEndPoint.Equals(path.Local)) continue;
                s.Send(batch[i], path);
                break;
            }
        }
    }

    /// <summary>The one socket every datagram of <paramref name="batch"/> leaves from; null when they differ or one has no remote.</summary>
    private static IDatagramSocket? SocketForAll(IDatagramSocket[] sockets, DatagramBatch batch)
    {
        IDatagramSocket? chosen = null;
        for (int i = 0; i < batch.Count; i++)
        {
            var path = batch.PathAt(i);
            if (path.Remote is null) return null;
            IDatagramSocket? s = null;
            foreach (var candidate in sockets)
            {
                if (path.Local is not null && !candidate.LocalEndPoint.Equals(path.Local)) continue;
                s = candidate;
                break;
            }
            if (s is null || (chosen is not null && !ReferenceEquals(s, chosen))) return null;
            chosen = s;
        }
        return chosen;
    }

    public void Dispose()
    {
        _cts.Cancel();
        foreach (var s in _sockets) s.Dispose();
        _cts.Dispose();
    }
}
