namespace OspBridge.Net.Dns;

// RFC 1035 §4.1.3 resource record:
//   NAME (name) | TYPE (16) | CLASS (16; mDNS: top bit = cache-flush) | TTL (32) | RDLENGTH (16) | RDATA

/// <summary>
/// A resource record. Subclasses hold the RDATA of one type; <see cref="UnknownRecord"/> keeps any other
/// type as raw bytes. Records are immutable; use <see cref="WithTtl"/> / <see cref="WithCacheFlush"/> for copies.
/// </summary>
public abstract class DnsRecord
{
    /// <summary>Creates a record header.</summary>
    protected DnsRecord(DnsName name, DnsRecordType type, uint ttl, bool cacheFlush, ushort @class)
    {
        Name = name ?? throw new ArgumentNullException(nameof(name));
        Type = type;
        Ttl = ttl;
        CacheFlush = cacheFlush;
        Class = @class;
    }

    /// <summary>Owner name.</summary>
    public DnsName Name { get; }

    /// <summary>RR type.</summary>
    public DnsRecordType Type { get; }

    /// <summary>Class without the cache-flush bit (normally <see cref="DnsClass.IN"/>).</summary>
    public ushort Class { get; }

    /// <summary>The mDNS cache-flush bit: this record set is unique and replaces cached ones.</summary>
    public bool CacheFlush { get; private set; }

    /// <summary>Time to live in seconds (0 = goodbye in mDNS).</summary>
    public uint Ttl { get; private set; }

    /// <summary>A copy with another TTL.</summary>
    public DnsRecord WithTtl(uint ttl)
    {
        var r = (DnsRecord)MemberwiseClone();
        r.Ttl = ttl;
        return r;
    }

    /// <summary>A copy with the cache-flush bit set or cleared.</summary>
    public DnsRecord WithCacheFlush(bool cacheFlush)
    {
        var r = (DnsRecord)MemberwiseClone();
        r.CacheFlush = cacheFlush;
        return r;
    }

    /// <summary>Writes the RDATA (without the length prefix).</summary>
    internal abstract void WriteData(DnsWriter writer);

    /// <summary>
    /// The RDATA bytes without name compression (names in original case). Used for the RFC 6762 §8.2
    /// lexicographic tie-break and for equality.
    /// </summary>
    public byte[] GetCanonicalData()
    {
        var w = new DnsWriter(1 << 16, compress: false);
        WriteData(w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>True when name, type, class and RDATA are the same (TTL and cache-flush ignored): "the same record".</summary>
    public bool SameRecord(DnsRecord other)
        => other is not null && Type == other.Type && Class == other.Class && Name == other.Name && DataEquals(other);

    /// <summary>True when the RDATA equals <paramref name="other"/>'s (same type assumed).</summary>
    public abstract bool DataEquals(DnsRecord other);

    /// <summary>RDATA as text (for logs).</summary>
    public abstract string DataToString();

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Ttl} {(CacheFlush ? "IN(flush)" : "IN")} {Type} {DataToString()}";
}
