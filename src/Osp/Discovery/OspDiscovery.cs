using OspBridge.Net.Dns;

namespace OspBridge.Osp.Discovery;

/// <summary>Constants of OSP discovery.</summary>
public static class OspDiscovery
{
    /// <summary>The DNS-SD service type with domain: <c>_openscreen._udp.local</c>.</summary>
    public static DnsName ServiceType { get; } = DnsName.Parse("_openscreen._udp.local");
}
