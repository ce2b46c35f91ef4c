using System.Net;
using OspBridge.Net.Core;

namespace OspBridge.Net.IO;

/// <summary>Something that sends datagrams: a socket, or a test's virtual network.</summary>
public interface IDatagramSender
{
    /// <summary>
    /// Sends every datagram of <paramref name="batch"/> (to each one's <see cref="DatagramPath.Remote"/>,
    /// out of its <see cref="DatagramPath.InterfaceIndex"/> where given). Never blocks: a datagram the OS
    /// cannot take now is dropped, as UDP may. Safe to call from several loops at once.
    /// </summary>
    void Send(DatagramBatch batch);
}

/// <summary>
/// The one UDP socket abstraction of QUIC, WebRTC and mDNS: bound to one local endpoint (optionally one
/// interface), reporting each datagram's arrival address/interface, batched both ways.
/// </summary>
public interface IDatagramSocket : IDatagramSender, IDisposable
{
    /// <summary>The bound local endpoint (with the real port when bound to port 0).</summary>
    IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Waits for at least one datagram, then fills <paramref name="batch"/> (cleared first) with as many as
    /// are ready, up to its capacity — except that the segments of one coalesced (UDP GRO) receive are never split
    /// over two calls, so a batch may then hold more than <see cref="DatagramBatch.Capacity"/>; each datagram's path has <c>Remote</c> = the sender and, where the socket
    /// reports it, <c>Local</c> = the destination address and the arrival interface. Returns the count.
    /// Datagrams larger than the batch's slot size are truncated to it and should be treated as invalid.
    /// </summary>
    ValueTask<int> ReceiveAsync(DatagramBatch batch, CancellationToken cancellationToken);

    /// <summary>Sends one datagram (see <see cref="IDatagramSender.Send"/> for the drop semantics).</summary>
    void Send(ReadOnlySpan<byte> datagram, DatagramPath path);
}

/// <summary>How to open a UDP socket (see <see cref="IDatagramSocketFactory"/>).</summary>
public sealed record UdpSocketOptions
{
    /// <summary>The local endpoint; port 0 picks a free one.</summary>
    public required IPEndPoint LocalEndPoint { get; init; }

    /// <summary>Bind to this interface only (Linux SO_BINDTODEVICE), e.g. a test's veth; null = any.</summary>
    public string? Interface { get; init; }

    /// <summary>Share the port with other sockets/programs (SO_REUSEADDR + SO_REUSEPORT), as mDNS needs.</summary>
    public bool ReuseAddress { get; init; }

    /// <summary>Report each datagram's destination address and arrival interface (IP_PKTINFO / IPV6_PKTINFO).</summary>
    public bool ReceivePacketInfo { get; init; } = true;

    /// <summary>IPv6 sockets also accept IPv4-mapped traffic.</summary>
    public bool DualMode { get; init; }

    /// <summary>Multicast group to join (on <see cref="MulticastInterfaces"/>); null = none.</summary>
    public IPAddress? MulticastGroup { get; init; }

    /// <summary>Interface indexes to join <see cref="MulticastGroup"/> on.</summary>
    public IReadOnlyList<int> MulticastInterfaces { get; init; } = [];

    /// <summary>Loop our own multicast back to sockets on this host (on by default: other processes — and our own querier — see our answers).</summary>
    public bool MulticastLoopback { get; init; } = true;

    /// <summary>
    /// Use segmentation offload where the platform has it (Linux UDP GSO on send, UDP GRO on receive).
    /// The batched socket falls back to plain datagrams when the kernel refuses it.
    /// </summary>
    public bool Offload { get; init; } = true;

    /// <summary>Multicast and unicast hop limit; null = OS default (mDNS uses 255).</summary>
    public int? HopLimit { get; init; }

    /// <summary>OS receive buffer size in bytes; null = OS default.</summary>
    public int? ReceiveBufferSize { get; init; }

    /// <summary>OS send buffer size in bytes; null = OS default.</summary>
    public int? SendBufferSize { get; init; }

    /// <summary>
    /// After waiting for data, the receiver's continuation runs on the I/O thread that saw the socket become readable
    /// (Linux batched sockets: the process's epoll thread) instead of being handed to the thread pool — one thread hop
    /// fewer per wake-up. Only for receivers whose work per wake-up is short and never blocks: every socket opted in
    /// shares that one thread. Off by default; <c>OSPBRIDGE_UDP_INLINE=0</c> turns it off for A/B.
    /// </summary>
    public bool ReceiveOnIoThread { get; init; }

    /// <summary>
    /// Never fragment at the IP layer (IPv4 DF; IPv6 no local fragmentation), as RFC 9000 §14 requires of QUIC: a
    /// datagram larger than the interface MTU fails to send instead of leaving in fragments, which is what lets
    /// Path MTU discovery's probes fail cleanly. Linux: <c>IP(V6)_MTU_DISCOVER = PMTUDISC_PROBE</c> (the
    /// kernel's cached path MTU from ICMP is not trusted; the sender's own probes decide); elsewhere
    /// <see cref="System.Net.Sockets.Socket.DontFragment"/> where the platform has it. Off by default.
    /// </summary>
    public bool DontFragment { get; init; }
}

/// <summary>Opens UDP sockets. Tests supply one that opens them inside a network namespace.</summary>
public interface IDatagramSocketFactory
{
    /// <summary>Opens and binds a socket.</summary>
    IDatagramSocket Open(UdpSocketOptions options);
}
