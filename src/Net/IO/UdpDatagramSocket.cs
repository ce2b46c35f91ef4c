using System.Net;
using System.Net.Sockets;
using OspBridge.Net.Core;

namespace OspBridge.Net.IO;

/// <summary>
/// The portable <see cref="IDatagramSocket"/> over <see cref="Socket"/>: one receive call per datagram
/// (further ready datagrams are drained without waiting), one send call per datagram.
/// </summary>
public sealed class UdpDatagramSocket : IDatagramSocket
{
    private readonly Socket _socket;
    private readonly bool _packetInfo;
    private readonly EndPoint _any;
    private readonly Lock _multicastSend = new();

    private UdpDatagramSocket(Socket socket, bool packetInfo)
    {
        _socket = socket;
        _packetInfo = packetInfo;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _any = socket.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(IPAddress.Any, 0) : new IPEndPoint(IPAddress.IPv6Any, 0);
    }

    /// <inheritdoc/>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The underlying socket (for options this type does not cover).</summary>
    public Socket Socket => _socket;

    /// <summary>Opens and binds a socket as <paramref name="options"/> say.</summary>
    public static UdpDatagramSocket Open(UdpSocketOptions options)
    {
        var s = CreateSocket(options);
        return new UdpDatagramSocket(s, options.ReceivePacketInfo || options.MulticastGroup is not null);
    }

    /// <summary>Wraps an already configured socket (the batched socket's fallback shares its socket).</summary>
    internal static UdpDatagramSocket Wrap(Socket socket, bool packetInfo) => new(socket, packetInfo);

    /// <summary>Sets "never fragment" (see <see cref="UdpSocketOptions.DontFragment"/>).</summary>
    private static void SetDontFragment(Socket s, bool v4, bool dualMode)
    {
        if (OperatingSystem.IsLinux())
        {
            var probe = BitConverter.GetBytes(LinuxSocketInterop.PMTUDISC_PROBE);
            if (v4)
            {
                s.SetRawSocketOption(LinuxSocketInterop.SOL_IP, LinuxSocketInterop.IP_MTU_DISCOVER, probe);
                return;
            }
            s.SetRawSocketOption(LinuxSocketInterop.SOL_IPV6, LinuxSocketInterop.IPV6_MTU_DISCOVER, probe);
            if (!dualMode) return;
            try
            {
                s.SetRawSocketOption(LinuxSocketInterop.SOL_IP, LinuxSocketInterop.IP_MTU_DISCOVER, probe); // IPv4-mapped traffic of a dual-mode socket
            }
            catch (SocketException)
            {
                // kernels that keep IPv4 options off IPv6 sockets use the IPv6 setting for mapped traffic too
            }
            return;
        }
        try
        {
            if (v4) s.DontFragment = true;
        }
        catch (SocketException)
        {
            // the platform has no DF control: datagrams stay at the base size's safety margin
        }
        catch (NotSupportedException)
        {
        }
    }

    /// <summary>Creates, configures and binds the OS socket for <paramref name="options"/> (shared by every implementation).</summary>
    internal static Socket CreateSocket(UdpSocketOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var local = options.LocalEndPoint;
        var s = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            bool v4 = local.AddressFamily == AddressFamily.InterNetwork;
            if (!v4) s.DualMode = options.DualMode;
            if (options.ReuseAddress)
            {
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                if (OperatingSystem.IsLinux()) s.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
            }
            if (options.Interface is { } dev && OperatingSystem.IsLinux())
            {
                var name = new byte[dev.Length + 1];
                System.Text.Encoding.ASCII.GetBytes(dev, name);
                s.SetRawSocketOption(1 /* SOL_SOCKET */, 25 /* SO_BINDTODEVICE */, name);
            }
            if (options.ReceiveBufferSize is { } rb) s.ReceiveBufferSize = rb;
            if (options.SendBufferSize is { } sb) s.SendBufferSize = sb;
            s.Bind(local);
            var level = v4 ? SocketOptionLevel.IP : SocketOptionLevel.IPv6;
            if (options.ReceivePacketInfo || options.MulticastGroup is not null)
            {
                s.SetSocketOption(level, SocketOptionName.PacketInformation, true);
                if (!v4 && options.DualMode) s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
            }
            if (options.DontFragment) SetDontFragment(s, v4, options.DualMode);
            if (options.HopLimit is { } hops)
            {
                s.SetSocketOption(level, SocketOptionName.MulticastTimeToLive, hops);
                s.SetSocketOption(level, SocketOptionName.IpTimeToLive, hops);
            }
            if (options.MulticastGroup is { } group)
            {
                s.SetSocketOption(level, SocketOptionName.MulticastLoopback, options.MulticastLoopback);
                if (OperatingSystem.IsLinux())
                    s.SetRawSocketOption(v4 ? 0 : 41, v4 ? 49 /* IP_MULTICAST_ALL */ : 29 /* IPV6_MULTICAST_ALL */, BitConverter.GetBytes(0));
                foreach (int i in options.MulticastInterfaces)
                {
                    if (v4) s.SetSocketOption(level, SocketOptionName.AddMembership, new MulticastOption(group, i));
                    else s.SetSocketOption(level, SocketOptionName.AddMembership, new IPv6MulticastOption(group, i));
                }
            }
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> ReceiveAsync(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Clear();
        if (_packetInfo)
        {
            var r = await _socket.ReceiveMessageFromAsync(batch.NextSlotMemory, SocketFlags.None, _any, cancellationToken).ConfigureAwait(false);
            batch.Commit(r.ReceivedBytes, PathOf((IPEndPoint)r.RemoteEndPoint, r.PacketInformation));
        }
        else
        {
            var r = await _socket.ReceiveFromAsync(batch.NextSlotMemory, SocketFlags.None, _any, cancellationToken).ConfigureAwait(false);
            batch.Commit(r.ReceivedBytes, new DatagramPath(LocalEndPoint, (IPEndPoint)r.RemoteEndPoint));
        }
        // Drain what is already queued without another wait (bounded by the batch).
        while (!batch.IsFull && _socket.Available > 0)
        {
            try
            {
                EndPoint from = _any;
                if (_packetInfo)
                {
                    var flags = SocketFlags.None;
                    int n = _socket.ReceiveMessageFrom(batch.NextSlot, ref flags, ref from, out var info);
                    batch.Commit(n, PathOf((IPEndPoint)from, info));
                }
                else
                {
                    int n = _socket.ReceiveFrom(batch.NextSlot, SocketFlags.None, ref from);
                    batch.Commit(n, new DatagramPath(LocalEndPoint, (IPEndPoint)from));
                }
            }
            catch (SocketException)
            {
                break; // e.g. ICMP-induced ECONNREFUSED on Linux: report what we have
            }
        }
        return batch.Count;
    }

    private DatagramPath PathOf(IPEndPoint from, IPPacketInformation info) =>
        new(info.Address is { } a && !a.Equals(IPAddress.Any) && !a.Equals(IPAddress.IPv6Any) ? new IPEndPoint(a, LocalEndPoint.Port) : LocalEndPoint, from, info.Interface);

    /// <inheritdoc/>
    public void Send(ReadOnlySpan<byte> datagram, DatagramPath path) => TrySend(datagram, path);

    /// <summary>Like <see cref="Send(ReadOnlySpan{byte}, DatagramPath)"/>; false when the OS refused the datagram (it is lost).</summary>
    internal bool TrySend(ReadOnlySpan<byte> datagram, DatagramPath path)
    {
        if (path.Remote is not { } remote) throw new ArgumentException("a UDP send needs a remote endpoint", nameof(path));
        try
        {
            if (path.InterfaceIndex != 0 && IsMulticast(remote.Address))
            {
                // The outgoing interface is a socket option: set it and send as one step (several loops may share the socket).
                lock (_multicastSend)
                {
                    SetMulticastInterface(path.InterfaceIndex);
                    _socket.SendTo(datagram, SocketFlags.None, remote);
                }
                return true;
            }
            _socket.SendTo(datagram, SocketFlags.None, remote);
            return true;
        }
        catch (SocketException)
        {
            // UDP semantics: a datagram the OS refuses now (buffer full, unreachable, too big) is lost.
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public void Send(DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        for (int i = 0; i < batch.Count; i++) Send(batch[i], batch.PathAt(i));
    }

    private void SetMulticastInterface(int index)
    {
        if (_socket.AddressFamily == AddressFamily.InterNetwork)
        {
            // struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; } selects the interface by index
            Span<byte> mreqn = stackalloc byte[12];
            mreqn.Clear();
            BitConverter.TryWriteBytes(mreqn[8..], index);
            if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(0 /* IPPROTO_IP */, 32 /* IP_MULTICAST_IF */, mreqn);
            else _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.HostToNetworkOrder(index));
        }
        else
        {
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
        }
    }

    internal static bool IsMulticast(IPAddress a)
    {
        if (a.IsIPv6Multicast) return true;
        if (a.AddressFamily != AddressFamily.InterNetwork) return false;
        // Not GetAddressBytes(): that allocates a byte[4] per call, and BatchedUdpSocket asks for every message it sends
        // (issue 14: the largest recurring allocation left on the WebRTC data path, ≈ one 32-byte object per sendmmsg message).
        Span<byte> b = stackalloc byte[4];
        return a.TryWriteBytes(b, out _) && (b[0] & 0xF0) == 0xE0;
    }

    /// <inheritdoc/>
    public void Dispose() => _socket.Dispose();
}

/// <summary>
/// The default <see cref="IDatagramSocketFactory"/>: sockets in the process's own network namespace. On
/// 64-bit Linux it opens the batched socket (recvmmsg/sendmmsg, UDP GSO/GRO, pktinfo via cmsg), which
/// falls back to the portable <see cref="UdpDatagramSocket"/> by itself when the kernel refuses a call;
/// elsewhere, or with the environment variable <c>OSPBRIDGE_UDP=portable</c>, the portable one.
/// </summary>
public sealed class UdpSocketFactory : IDatagramSocketFactory
{
    private readonly bool _batched;

    private UdpSocketFactory(bool batched) => _batched = batched;

    /// <summary>The shared instance that picks the best implementation for the platform.</summary>
    public static UdpSocketFactory Default { get; } = new(BatchedUdpSocket.IsSupported
        && !string.Equals(Environment.GetEnvironmentVariable("OSPBRIDGE_UDP"), "portable", StringComparison.OrdinalIgnoreCase));

    /// <summary>A factory that always opens the portable <see cref="UdpDatagramSocket"/> (for comparison and diagnosis).</summary>
    public static UdpSocketFactory Portable { get; } = new(false);

    /// <summary>True when this factory opens batched sockets.</summary>
    public bool IsBatched => _batched;

    /// <inheritdoc/>
    public IDatagramSocket Open(UdpSocketOptions options) => _batched ? BatchedUdpSocket.Open(options) : UdpDatagramSocket.Open(options);
}
