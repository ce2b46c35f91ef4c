using System.Net;

namespace OspBridge.Net.Mdns;

/// <summary>A datagram a sans-IO mDNS core wants sent on its interface.</summary>
/// <param name="Payload">The encoded DNS message.</param>
/// <param name="Unicast">Destination for a unicast reply; null = the mDNS multicast group(s) of the interface.</param>
public readonly record struct MdnsTransmit(byte[] Payload, IPEndPoint? Unicast);

/// <summary>Well-known mDNS constants (RFC 6762).</summary>
public static class MdnsConstants
{
    /// <summary>The mDNS UDP port.</summary>
    public const int Port = 5353;

    /// <summary>IPv4 group 224.0.0.251.</summary>
    public static IPAddress IPv4Group { get; } = IPAddress.Parse("224.0.0.251");

    /// <summary>IPv6 group ff02::fb.</summary>
    public static IPAddress IPv6Group { get; } = IPAddress.Parse("ff02::fb");

    /// <summary>Largest datagram we build (fits a 1500-octet Ethernet MTU with IPv6+UDP headers).</summary>
    public const int MaxPacketSize = 1440;

    /// <summary>The "local" domain.</summary>
    public static Dns.DnsName LocalDomain { get; } = Dns.DnsName.Parse("local");

    /// <summary>DNS-SD service type enumeration name (RFC 6763 §9).</summary>
    public static Dns.DnsName ServicesMetaQuery { get; } = Dns.DnsName.Parse("_services._dns-sd._udp.local");
}
