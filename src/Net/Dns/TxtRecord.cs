using System.Text;

namespace OspBridge.Net.Dns;

// RFC 1035 §3.3.14 TXT RDATA: one or more <character-string> (length octet + 0..255 octets).
// RFC 6763 §6: each string is "key=value" or "key"; an empty TXT is one zero-length string.

/// <summary>A text record; <see cref="Properties"/> interprets it as DNS-SD key/value pairs.</summary>
public sealed class TxtRecord : DnsRecord
{
    private readonly byte[][] _strings;

    /// <summary>Creates a TXT record from raw strings (each ≤ 255 octets). No strings = one empty string on the wire.</summary>
    public TxtRecord(DnsName name, IEnumerable<byte[]> strings, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.TXT, ttl, cacheFlush, @class)
    {
        _strings = strings.Select(s => (byte[])s.Clone()).ToArray();
        foreach (var s in _strings)
            if (s.Length > 255) throw new NetException(NetError.LimitExceeded, "TXT string longer than 255 octets");
    }

    /// <summary>Creates a TXT record from DNS-SD properties.</summary>
    public TxtRecord(DnsName name, TxtProperties properties, uint ttl, bool cacheFlush = true)
        : this(name, properties.ToStrings(), ttl, cacheFlush)
    {
    }

    /// <summary>The raw strings.</summary>
    public IReadOnlyList<byte[]> Strings => _strings;

    /// <summary>The strings parsed as DNS-SD key/value pairs (RFC 6763 §6).</summary>
    public TxtProperties Properties => TxtProperties.Parse(_strings);

    internal override void WriteData(DnsWriter writer)
    {
        if (_strings.Length == 0)
        {
            writer.WriteByte(0);
            return;
        }
        foreach (var s in _strings)
        {
            writer.WriteByte((byte)s.Length);
            writer.WriteBytes(s);
        }
    }

    internal static TxtRecord Read(DnsName name, uint ttl, bool flush, ushort cls, ReadOnlySpan<byte> rdata)
    {
        var list = new List<byte[]>();
        int p = 0;
        while (p < rdata.Length)
        {
            int len = rdata[p];
            if (p + 1 + len > rdata.Length) throw DnsReader.Malformed("TXT string runs past RDATA");
            if (len > 0 || rdata.Length > 1) list.Add(rdata.Slice(p + 1, len).ToArray());
            p += 1 + len;
        }
        return new TxtRecord(name, list, ttl, flush, cls);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other)
    {
        if (other is not TxtRecord t) return false;
        // An empty record equals one zero-length string (same wire form).
        return GetCanonicalData().AsSpan().SequenceEqual(t.GetCanonicalData());
    }

    /// <inheritdoc />
    public override string DataToString()
        => string.Join(' ', _strings.Select(s => "\"" + Encoding.UTF8.GetString(s).Replace("\"", "\\\"", StringComparison.Ordinal) + "\""));
}
