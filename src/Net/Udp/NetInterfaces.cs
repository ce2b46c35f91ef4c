using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace OspBridge.Net.Udp;

/// <summary>A network interface as the kernel reports it (via <c>getifaddrs</c>, so it reflects the calling thread's network namespace).</summary>
/// <param name="Name">Interface name (e.g. <c>eth0</c>).</param>
/// <param name="Index">Interface index.</param>
/// <param name="IsUp">IFF_UP.</param>
/// <param name="IsLoopback">IFF_LOOPBACK.</param>
/// <param name="SupportsMulticast">IFF_MULTICAST.</param>
/// <param name="Addresses">IPv4 and IPv6 addresses (link-local IPv6 with the interface as scope id).</param>
public sealed record NetInterface(string Name, int Index, bool IsUp, bool IsLoopback, bool SupportsMulticast, IReadOnlyList<IPAddress> Addresses);

/// <summary>Enumerates interfaces with <c>getifaddrs(3)</c> (Linux) — correct inside network namespaces, unlike /sys-based APIs.</summary>
public static partial class NetInterfaces
{
    private const uint IFF_UP = 0x1, IFF_LOOPBACK = 0x8, IFF_MULTICAST = 0x1000;

    /// <summary>All interfaces of the calling thread's network namespace.</summary>
    public static IReadOnlyList<NetInterface> GetAll()
    {
        if (!OperatingSystem.IsLinux())
            return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces().Select(FromManaged).ToList();
        var byName = new Dictionary<string, (uint Flags, List<IPAddress> Addrs)>(StringComparer.Ordinal);
        var order = new List<string>();
        if (getifaddrs(out nint head) != 0)
            throw new NetException(NetError.AddressUnavailable, $"getifaddrs failed (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            for (nint p = head; p != 0;)
            {
                var ifa = Marshal.PtrToStructure<IfAddrs>(p);
                string name = Marshal.PtrToStringUTF8(ifa.Name) ?? "";
                if (!byName.TryGetValue(name, out var entry))
                {
                    entry = (ifa.Flags, []);
                    byName[name] = entry;
                    order.Add(name);
                }
                var addr = ReadAddress(ifa.Addr);
                if (addr is not null && !entry.Addrs.Contains(addr)) entry.Addrs.Add(addr);
                p = ifa.Next;
            }
        }
        finally
        {
            freeifaddrs(head);
        }
        var result = new List<NetInterface>();
        foreach (string name in order)
        {
            var (flags, addrs) = byName[name];
            int index = (int)if_nametoindex(name);
            if (index == 0) continue;
            var scoped = addrs.Select(a => a.IsIPv6LinkLocal ? new IPAddress(a.GetAddressBytes(), index) : a).ToList();
            result.Add(new NetInterface(name, index, (flags & IFF_UP) != 0, (flags & IFF_LOOPBACK) != 0, (flags & IFF_MULTICAST) != 0, scoped));
        }
        return result;
    }

    private static NetInterface FromManaged(System.Net.NetworkInformation.NetworkInterface n)
    {
        var props = n.GetIPProperties();
        int index = n.Supports(System.Net.NetworkInformation.NetworkInterfaceComponent.IPv4) ? props.GetIPv4Properties().Index
            : props.GetIPv6Properties().Index;
        return new NetInterface(n.Name, index, n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up,
            n.NetworkInterfaceType == System.Net.NetworkInformation.NetworkInterfaceType.Loopback, n.SupportsMulticast,
            props.UnicastAddresses.Select(u => u.Address).ToList());
    }

    private static IPAddress? ReadAddress(nint sa)
    {
        if (sa == 0) return null;
        ushort family = (ushort)Marshal.ReadInt16(sa);
        if (family == 2)
        {
            var b = new byte[4];
            Marshal.Copy(sa + 4, b, 0, 4);
            return new IPAddress(b);
        }
        if (family == 10)
        {
            var b = new byte[16];
            Marshal.Copy(sa + 8, b, 0, 16);
            return new IPAddress(b);
        }
        return null;
    }

    /// <summary>
    /// Sets IFF_MULTICAST on an interface that lacks it (typically <c>lo</c>), so mDNS can run on it.
    /// Needs CAP_NET_ADMIN; throws <see cref="NetException"/> (<see cref="NetError.AddressUnavailable"/>) otherwise.
    /// </summary>
    public static unsafe void EnableMulticast(string name)
    {
        int fd = socket(2, 2, 0);
        if (fd < 0) throw new NetException(NetError.AddressUnavailable, "socket() failed");
        try
        {
            byte* ifr = stackalloc byte[40];
            new Span<byte>(ifr, 40).Clear();
            var nameBytes = System.Text.Encoding.ASCII.GetBytes(name);
            if (nameBytes.Length > 15) throw new NetException(NetError.AddressUnavailable, $"interface name too long: {name}");
            nameBytes.CopyTo(new Span<byte>(ifr, 16));
            if (ioctl(fd, 0x8913 /* SIOCGIFFLAGS */, ifr) != 0)
                throw new NetException(NetError.AddressUnavailable, $"no interface {name}");
            short* flags = (short*)(ifr + 16);
            *flags = (short)(*flags | (short)IFF_MULTICAST);
            if (ioctl(fd, 0x8914 /* SIOCSIFFLAGS */, ifr) != 0)
                throw new NetException(NetError.AddressUnavailable,
                    $"cannot enable multicast on {name} (errno {Marshal.GetLastPInvokeError()}); run 'ip link set {name} multicast on' as root");
        }
        finally
        {
            _ = close(fd);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IfAddrs
    {
        public nint Next;
        public nint Name;
        public uint Flags;
        public nint Addr;
        public nint Netmask;
        public nint BroadAddr;
        public nint Data;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getifaddrs(out nint ifap);

    [LibraryImport("libc")]
    private static partial void freeifaddrs(nint ifa);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint if_nametoindex(string name);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(int fd, nuint request, byte* arg);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
