using System.Net;
using System.Net.Sockets;

namespace OspBridge.Net.Dns;

// RFC 1035 §3.4.1 A RDATA: ADDRESS (32 bits).

/// <summary>An IPv4 address record.</summary>
public sealed class ARecord : DnsRecord
{
    /// <summary>Creates an A record.</summary>
    public ARecord(DnsName name, IPAddress address, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.A, ttl, cacheFlush, @class)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork) throw new ArgumentException("A record needs an IPv4 address", nameof(address));
        Address = address;
    }

    /// <summary>The address.</summary>
    public IPAddress Address { get; }

    internal override void WriteData(DnsWriter writer)
    {
        Span<byte> b = stackalloc byte[4];
        Address.TryWriteBytes(b, out _);
        writer.WriteBytes(b);
    }

    internal static ARecord Read(DnsName name, uint ttl, bool flush, ushort cls, ReadOnlySpan<byte> rdata)
    {
        if (rdata.Length != 4) throw DnsReader.Malformed("A record RDATA must be 4 octets");
        return new ARecord(name, new IPAddress(rdata), ttl, flush, cls);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other) => other is ARecord a && a.Address.Equals(Address);

    /// <inheritdoc />
    public override string DataToString() => Address.ToString();
}
