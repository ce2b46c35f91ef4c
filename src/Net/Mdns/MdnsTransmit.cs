using System.Net;
using System.Security.Cryptography;
using OspBridge.Net.Core;

namespace OspBridge.Net.Mdns;

/// <summary>A datagram a sans-IO mDNS core wants sent on its interface.</summary>
/// <param name="Payload">The encoded DNS message.</param>
/// <param name="Unicast">Destination for a unicast reply; null = the mDNS multicast group(s) of the interface.</param>
internal readonly record struct MdnsTransmit(byte[] Payload, IPEndPoint? Unicast);

/// <summary>
/// The outgoing queue of an mDNS core: a multicast message leaves once per configured group (IPv4 and/or
/// IPv6) out of the core's interface, a unicast reply once to its destination.
/// </summary>
internal sealed class MdnsTransmitQueue(IReadOnlyList<IPEndPoint> groups, int interfaceIndex)
{
    private readonly Queue<MdnsTransmit> _queue = new();
    private MdnsTransmit? _current;
    private int _nextGroup;

    public int Count => _queue.Count + (_current is null ? 0 : 1);

    public void Enqueue(byte[] payload, IPEndPoint? unicast) => _queue.Enqueue(new MdnsTransmit(payload, unicast));

    public bool TryPoll(Span<byte> destination, out Transmit transmit)
    {
        while (true)
        {
            if (_current is null)
            {
                if (!_queue.TryDequeue(out var next)) { transmit = default; return false; }
                _current = next;
                _nextGroup = 0;
            }
            var c = _current.Value;
            if (c.Unicast is { } to)
            {
                _current = null;
                if (c.Payload.Length > destination.Length) continue;
                c.Payload.CopyTo(destination);
                transmit = new Transmit(c.Payload.Length, new DatagramPath(null, to, interfaceIndex));
                return true;
            }
            if (_nextGroup < groups.Count && c.Payload.Length <= destination.Length)
            {
                c.Payload.CopyTo(destination);
                transmit = new Transmit(c.Payload.Length, new DatagramPath(null, groups[_nextGroup++], interfaceIndex));
                return true;
            }
            _current = null;
        }
    }
}

/// <summary>Uniform doubles from an injected <see cref="RandomNumberGenerator"/> (jitter of the mDNS cores).</summary>
internal static class MdnsRandom
{
    public static double NextDouble(RandomNumberGenerator rng)
    {
        Span<byte> b = stackalloc byte[8];
        rng.GetBytes(b);
        return (BitConverter.ToUInt64(b) >> 11) * (1.0 / (1UL << 53));
    }
}

/// <summary>Well-known mDNS constants (RFC 6762).</summary>
public static class MdnsConstants
{
    /// <summary>The mDNS UDP port.</summary>
    public const int Port = 5353;

    /// <summary>IPv4 group 224.0.0.251.</summary>
    public static IPAddress IPv4Group { get; } = IPAddress.Parse("224.0.0.251");

    /// <summary>IPv6 group ff02::fb.</summary>
    public static IPAddress IPv6Group { get; } = IPAddress.Parse("ff02::fb");

    /// <summary>224.0.0.251:5353, where IPv4 multicast goes.</summary>
    public static IPEndPoint IPv4EndPoint { get; } = new(IPv4Group, Port);

    /// <summary>[ff02::fb]:5353, where IPv6 multicast goes.</summary>
    public static IPEndPoint IPv6EndPoint { get; } = new(IPv6Group, Port);

    /// <summary>Largest datagram we build (fits a 1500-octet Ethernet MTU with IPv6+UDP headers).</summary>
    public const int MaxPacketSize = 1440;

    /// <summary>The "local" domain.</summary>
    public static Dns.DnsName LocalDomain { get; } = Dns.DnsName.Parse("local");

    /// <summary>DNS-SD service type enumeration name (RFC 6763 §9).</summary>
    public static Dns.DnsName ServicesMetaQuery { get; } = Dns.DnsName.Parse("_services._dns-sd._udp.local");
}
