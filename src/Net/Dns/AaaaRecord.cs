using System.Net;
using System.Net.Sockets;

namespace OspBridge.Net.Dns;

// RFC 3596 §2.2 AAAA RDATA: ADDRESS (128 bits).

/// <summary>An IPv6 address record.</summary>
public sealed class AaaaRecord : DnsRecord
{
    /// <summary>Creates an AAAA record (a scope id of the address is not sent).</summary>
    public AaaaRecord(DnsName name, IPAddress address, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.AAAA, ttl, cacheFlush, @class)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) throw new ArgumentException("AAAA record needs an IPv6 address", nameof(address));
        Address = address.ScopeId == 0 ? address : new IPAddress(address.GetAddressBytes());
    }

    /// <summary>The address (scope id 0).</summary>
    public IPAddress Address { get; }

    internal override void WriteData(DnsWriter writer)
    {
        Span<byte> b = stackalloc byte[16];
        Address.TryWriteBytes(b, out _);
        writer.WriteBytes(b);
    }

    internal static AaaaRecord Read(DnsName name, uint ttl, bool flush, ushort cls, ReadOnlySpan<byte> rdata)
    {
        if (rdata.Length != 16) throw DnsReader.Malformed("AAAA record RDATA must be 16 octets");
        return new AaaaRecord(name, new IPAddress(rdata), ttl, flush, cls);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other) => other is AaaaRecord a && a.Address.Equals(Address);

    /// <inheritdoc />
    public override string DataToString() => Address.ToString();
}
