using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace OspBridge.Net.Udp;

/// <summary>
/// A UDP socket bound to the wildcard address and a fixed port (5353 for mDNS), shared with other
/// programs (SO_REUSEADDR + SO_REUSEPORT, e.g. avahi-daemon), joined to one multicast group on chosen
/// interfaces, reporting the arrival interface of each datagram (IP_PKTINFO / IPV6_PKTINFO) and sending
/// multicast out of a chosen interface (IP_MULTICAST_IF with <c>ip_mreqn</c> / IPV6_MULTICAST_IF),
/// hop limit 255, multicast loop on. Sends must be serialized by the caller (the outgoing interface is
/// a socket option set right before each multicast send).
/// </summary>
internal sealed class MulticastUdpSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly IPAddress _group;
    private readonly int _port;

    public MulticastUdpSocket(AddressFamily family, IPAddress group, int port, IEnumerable<int> interfaceIndexes)
    {
        _group = group;
        _port = port;
        Family = family;
        _socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
            if (family == AddressFamily.InterNetwork)
            {
                _socket.Bind(new IPEndPoint(IPAddress.Any, port));
                _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
                _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 255);
                _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.IpTimeToLive, 255);
                _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
                if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(0 /* IPPROTO_IP */, 49 /* IP_MULTICAST_ALL */, BitConverter.GetBytes(0));
                foreach (int i in interfaceIndexes)
                    _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group, i));
            }
            else
            {
                _socket.DualMode = false;
                _socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
                _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.PacketInformation, true);
                _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
                _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.IpTimeToLive, 255);
                _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, true);
                if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(41 /* IPPROTO_IPV6 */, 29 /* IPV6_MULTICAST_ALL */, BitConverter.GetBytes(0));
                foreach (int i in interfaceIndexes)
                    _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(group, i));
            }
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    public AddressFamily Family { get; }

    /// <summary>Receives one datagram: bytes written to <paramref name="buffer"/>, the sender and the arrival interface index.</summary>
    public async ValueTask<(int Length, IPEndPoint From, int InterfaceIndex)> ReceiveAsync(Memory<byte> buffer, CancellationToken ct)
    {
        EndPoint any = Family == AddressFamily.InterNetwork ? new IPEndPoint(IPAddress.Any, 0) : new IPEndPoint(IPAddress.IPv6Any, 0);
        var r = await _socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, any, ct).ConfigureAwait(false);
        return (r.ReceivedBytes, (IPEndPoint)r.RemoteEndPoint, r.PacketInformation.Interface);
    }

    /// <summary>Sends to the group out of interface <paramref name="interfaceIndex"/>.</summary>
    public void SendMulticast(ReadOnlySpan<byte> payload, int interfaceIndex)
    {
        if (Family == AddressFamily.InterNetwork)
        {
            // struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }
            Span<byte> mreqn = stackalloc byte[12];
            mreqn.Clear();
            MemoryMarshal.Write(mreqn[8..], in interfaceIndex);
            _socket.SetRawSocketOption(0, 32 /* IP_MULTICAST_IF */, mreqn);
        }
        else
        {
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, interfaceIndex);
        }
        _socket.SendTo(payload, SocketFlags.None, new IPEndPoint(_group, _port));
    }

    /// <summary>Sends a unicast datagram.</summary>
    public void SendUnicast(ReadOnlySpan<byte> payload, IPEndPoint to) => _socket.SendTo(payload, SocketFlags.None, to);

    public void Dispose() => _socket.Dispose();
}
