using System.Net;
using System.Net.Sockets;

namespace OspBridge.Net.Dns;

// RFC 3596 §2.2 AAAA RDATA: ADDRESS (128 bits).

/// <summary>An IPv6 address record.</summary>
public sealed class AaaaRecord : DnsAddressRecord
{
    /// <summary>Creates an AAAA record (a scope id of the address is not sent).</summary>
    public AaaaRecord(DnsName name, IPAddress address, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.AAAA, AddressFamily.InterNetworkV6, address, ttl, cacheFlush, @class)
    {
    }

    internal static AaaaRecord Read(DnsName name, uint ttl, bool flush, ushort cls, ReadOnlySpan<byte> rdata)
        => new(name, ReadAddress(rdata, 16, "AAAA"), ttl, flush, cls);
}
