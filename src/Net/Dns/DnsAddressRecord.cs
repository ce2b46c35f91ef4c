using System.Net;
using System.Net.Sockets;

namespace OspBridge.Net.Dns;

// RFC 1035 §3.4.1 (A) and RFC 3596 §2.2 (AAAA): the RDATA is the address in network byte order, nothing else.

/// <summary>
/// A record whose RDATA is one IP address: <see cref="ARecord"/> (IPv4) or <see cref="AaaaRecord"/> (IPv6).
/// The address is written, compared and shown here once for both families.
/// </summary>
public abstract class DnsAddressRecord : DnsRecord
{
    /// <summary>Creates an address record of <paramref name="type"/>; the address must be of <paramref name="family"/>.</summary>
    private protected DnsAddressRecord(DnsName name, DnsRecordType type, AddressFamily family, IPAddress address, uint ttl, bool cacheFlush, ushort @class)
        : base(name, type, ttl, cacheFlush, @class)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != family)
            throw new ArgumentException($"{type} record needs an {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address", nameof(address));
        // An IPv6 scope id is local to this host: it is not sent and not part of the record (IPv4 has none: reading
        // ScopeId of an IPv4 address throws).
        Address = family == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? new IPAddress(address.GetAddressBytes()) : address;
    }

    /// <summary>The address (an IPv6 one with scope id 0).</summary>
    public IPAddress Address { get; }

    internal override void WriteData(DnsWriter writer)
    {
        Span<byte> b = stackalloc byte[16];
        Address.TryWriteBytes(b, out int written);
        writer.WriteBytes(b[..written]);
    }

    /// <summary>Reads the RDATA of an address record: exactly <paramref name="length"/> octets.</summary>
    private protected static IPAddress ReadAddress(ReadOnlySpan<byte> rdata, int length, string type)
    {
        if (rdata.Length != length) throw DnsReader.Malformed($"{type} record RDATA must be {length} octets");
        return new IPAddress(rdata);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other) => other is DnsAddressRecord a && a.Type == Type && a.Address.Equals(Address);

    /// <inheritdoc />
    public override string DataToString() => Address.ToString();
}
