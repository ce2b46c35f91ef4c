using System.Net;
using System.Net.Sockets;

namespace OspBridge.Net.Dns;

// RFC 1035 §3.4.1 A RDATA: ADDRESS (32 bits).

/// <summary>An IPv4 address record.</summary>
public sealed class ARecord : DnsAddressRecord
{
    /// <summary>Creates an A record.</summary>
    public ARecord(DnsName name, IPAddress address, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.A, AddressFamily.InterNetwork, address, ttl, cacheFlush, @class)
    {
    }

    internal static ARecord Read(DnsName name, uint ttl, bool flush, ushort cls, ReadOnlySpan<byte> rdata)
        => new(name, ReadAddress(rdata, 4, "A"), ttl, flush, cls);
}
