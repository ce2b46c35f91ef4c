namespace OspBridge.Net.Dns;

/// <summary>DNS RR types used by mDNS/DNS-SD (RFC 1035, 3596, 2782, 4034, 6762).</summary>
public enum DnsRecordType : ushort
{
    /// <summary>IPv4 address.</summary>
    A = 1,
    /// <summary>Domain name pointer (DNS-SD browse).</summary>
    PTR = 12,
    /// <summary>Text strings (DNS-SD key/value pairs).</summary>
    TXT = 16,
    /// <summary>IPv6 address.</summary>
    AAAA = 28,
    /// <summary>Service location (host, port).</summary>
    SRV = 33,
    /// <summary>EDNS(0) pseudo-record (kept as unknown data).</summary>
    OPT = 41,
    /// <summary>Next secure: which types exist for a name (negative answers in mDNS).</summary>
    NSEC = 47,
    /// <summary>Query type: all records of a name.</summary>
    ANY = 255,
}

/// <summary>DNS classes and the mDNS top-bit meanings of the class field.</summary>
public static class DnsClass
{
    /// <summary>The Internet class.</summary>
    public const ushort IN = 1;
    /// <summary>Query class ANY.</summary>
    public const ushort Any = 255;
    /// <summary>Top bit of the class in a question: unicast response requested ("QU", RFC 6762 §5.4).</summary>
    public const ushort UnicastResponseBit = 0x8000;
    /// <summary>Top bit of the class in a record: cache-flush (RFC 6762 §10.2).</summary>
    public const ushort CacheFlushBit = 0x8000;
}
