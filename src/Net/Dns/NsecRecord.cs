namespace OspBridge.Net.Dns;

// RFC 4034 §4.1 NSEC RDATA: NEXT DOMAIN NAME | TYPE BIT MAPS, each bitmap block =
//   WINDOW (8) | LENGTH (8, 1..32) | BITMAP (LENGTH octets; bit 0 of octet 0 = type WINDOW*256+0).
// mDNS (RFC 6762 §6.1) uses it for negative answers: next name = owner name, only window 0.

/// <summary>An NSEC record: the set of types that exist for <see cref="DnsRecord.Name"/>.</summary>
public sealed class NsecRecord : DnsRecord
{
    private readonly ushort[] _types;

    /// <summary>Creates an NSEC record.</summary>
    public NsecRecord(DnsName name, DnsName nextName, IEnumerable<DnsRecordType> types, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.NSEC, ttl, cacheFlush, @class)
    {
        NextName = nextName;
        _types = types.Select(t => (ushort)t).Distinct().Order().ToArray();
    }

    /// <summary>The next domain name (in mDNS: the owner name itself).</summary>
    public DnsName NextName { get; }

    /// <summary>The types that exist, ascending.</summary>
    public IReadOnlyList<DnsRecordType> Types => _types.Select(t => (DnsRecordType)t).ToArray();

    /// <summary>True when <paramref name="type"/> is in the bitmap.</summary>
    public bool HasType(DnsRecordType type) => Array.BinarySearch(_types, (ushort)type) >= 0;

    internal override void WriteData(DnsWriter writer)
    {
        writer.WriteName(NextName);
        int i = 0;
        Span<byte> bitmap = stackalloc byte[32];
        while (i < _types.Length)
        {
            int window = _types[i] >> 8;
            bitmap.Clear();
            int maxOctet = 0;
            while (i < _types.Length && _types[i] >> 8 == window)
            {
                int low = _types[i] & 0xFF;
                bitmap[low >> 3] |= (byte)(0x80 >> (low & 7));
                maxOctet = Math.Max(maxOctet, low >> 3);
                i++;
            }
            writer.WriteByte((byte)window);
            writer.WriteByte((byte)(maxOctet + 1));
            writer.WriteBytes(bitmap[..(maxOctet + 1)]);
        }
    }

    internal static NsecRecord Read(DnsName name, uint ttl, bool flush, ushort cls, DnsName next, ReadOnlySpan<byte> bitmaps)
    {
        var types = new List<DnsRecordType>();
        int p = 0;
        int lastWindow = -1;
        while (p < bitmaps.Length)
        {
            if (p + 2 > bitmaps.Length) throw DnsReader.Malformed("NSEC bitmap block header truncated");
            int window = bitmaps[p];
            int len = bitmaps[p + 1];
            if (window <= lastWindow) throw DnsReader.Malformed("NSEC windows out of order");
            if (len is < 1 or > 32 || p + 2 + len > bitmaps.Length) throw DnsReader.Malformed("NSEC bitmap length invalid");
            for (int o = 0; o < len; o++)
            {
                byte b = bitmaps[p + 2 + o];
                for (int bit = 0; bit < 8; bit++)
                    if ((b & (0x80 >> bit)) != 0) types.Add((DnsRecordType)((window << 8) | (o << 3) | bit));
            }
            lastWindow = window;
            p += 2 + len;
        }
        return new NsecRecord(name, next, types, ttl, flush, cls);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other)
        => other is NsecRecord n && n.NextName == NextName && n._types.AsSpan().SequenceEqual(_types);

    /// <inheritdoc />
    public override string DataToString() => $"{NextName} ({string.Join(' ', Types)})";
}
