using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace OspBridge.WebRtc;

/// <summary>
/// The thin I/O driver under a peer connection: one UDP socket per local address, receive loops that hand every
/// datagram (copied into an exact-size array) to a callback, and synchronous sends. RFC 7983 demultiplexing happens in
/// the peer connection's loop.
/// </summary>
internal sealed class UdpSocketSet : IDisposable
{
    private readonly List<(Socket Socket, IPEndPoint Local)> _sockets = [];
    private readonly CancellationTokenSource _cts = new();
    private readonly List<Task> _loops = [];

    public IReadOnlyList<IPEndPoint> LocalEndPoints => _sockets.Select(s => s.Local).ToList();

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

    public void Bind(IEnumerable<IPAddress> addresses, Func<IPAddress, Socket>? factory)
    {
        foreach (var a in addresses)
        {
            if (factory is not null)
            {
                var fs = factory(a);
                _sockets.Add((fs, (IPEndPoint)fs.LocalEndPoint!));
                continue;
            }
            var s = new Socket(a.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                if (a.AddressFamily == AddressFamily.InterNetworkV6) s.DualMode = false;
                s.ReceiveBufferSize = 4 << 20;
                s.SendBufferSize = 4 << 20;
                s.Bind(new IPEndPoint(a, 0));
                _sockets.Add((s, (IPEndPoint)s.LocalEndPoint!));
            }
            catch (SocketException)
            {
                s.Dispose();
            }
        }
    }

    public void StartReceiving(Action<IPEndPoint, IPEndPoint, byte[]> onDatagram)
    {
        foreach (var (s, local) in _sockets) _loops.Add(Task.Run(() => ReceiveLoop(s, local, onDatagram)));
    }

    private async Task ReceiveLoop(Socket s, IPEndPoint local, Action<IPEndPoint, IPEndPoint, byte[]> onDatagram)
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(local.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!_cts.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await s.ReceiveFromAsync(buffer, SocketFlags.None, any, _cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // ICMP port unreachable etc.
            if (r.ReceivedBytes == 0) continue;
            onDatagram(local, (IPEndPoint)r.RemoteEndPoint, buffer.AsSpan(0, r.ReceivedBytes).ToArray());
        }
    }

    public void Send(IPEndPoint local, IPEndPoint remote, ReadOnlySpan<byte> data)
    {
        foreach (var (s, l) in _sockets)
        {
            if (!l.Equals(local)) continue;
            try { s.SendTo(data, SocketFlags.None, remote); }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
            return;
        }
    }

    public void Dispose()
    {
        _cts.Cancel();
        foreach (var (s, _) in _sockets) s.Dispose();
        _cts.Dispose();
    }
}
