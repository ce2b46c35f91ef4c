namespace OspBridge.Net.Dns;

// RFC 1035 §4.1.2 question: QNAME (name), QTYPE (16), QCLASS (16; mDNS: top bit = unicast response wanted).

/// <summary>One question of a DNS message.</summary>
/// <param name="Name">The queried name.</param>
/// <param name="Type">The queried type (or ANY).</param>
/// <param name="Class">The class without the top bit (IN or ANY).</param>
/// <param name="UnicastResponse">The mDNS "QU" bit (RFC 6762 §5.4).</param>
public sealed record DnsQuestion(DnsName Name, DnsRecordType Type, ushort Class = DnsClass.IN, bool UnicastResponse = false)
{
    /// <summary>True when a record with this name/type/class answers the question.</summary>
    public bool Matches(DnsRecord record)
        => (Type == DnsRecordType.ANY || Type == record.Type)
           && (Class == DnsClass.Any || Class == record.Class)
           && Name == record.Name;
}
