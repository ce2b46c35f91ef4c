using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace OspBridge.Net.Dns;

/// <summary>
/// Reads the parts of one DNS message. Every read is transactional: on failure it throws
/// <see cref="NetException"/> (<see cref="NetError.Malformed"/>) and <see cref="Position"/> is unchanged.
/// Name decompression is loop-proof: a pointer must point strictly before itself, at most
/// <see cref="MaxPointerHops"/> pointers are followed, and a name may not exceed 255 octets.
/// </summary>
internal ref struct DnsReader
{
    public const int MaxPointerHops = 32;
    private readonly ReadOnlySpan<byte> _msg;

    public DnsReader(ReadOnlySpan<byte> message)
    {
        _msg = message;
        Position = 0;
    }

    public int Position { get; private set; }

    public int Remaining => _msg.Length - Position;

    internal static NetException Malformed(string why) => new(NetError.Malformed, "malformed DNS message: " + why);

    public (DnsHeader Header, int Qd, int An, int Ns, int Ar) ReadHeader()
    {
        if (_msg.Length - Position < DnsHeader.Length) throw Malformed("header truncated");
        var s = _msg.Slice(Position, DnsHeader.Length);
        var h = new DnsHeader(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]));
        int qd = BinaryPrimitives.ReadUInt16BigEndian(s[4..]), an = BinaryPrimitives.ReadUInt16BigEndian(s[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(s[8..]), ar = BinaryPrimitives.ReadUInt16BigEndian(s[10..]);
        Position += DnsHeader.Length;
        return (h, qd, an, ns, ar);
    }

    public DnsQuestion ReadQuestion()
    {
        int p = Position;
        var name = ReadName(_msg, ref p, _msg.Length);
        if (_msg.Length - p < 4) throw Malformed("question truncated");
        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(_msg[p..]);
        ushort cls = BinaryPrimitives.ReadUInt16BigEndian(_msg[(p + 2)..]);
        Position = p + 4;
        return new DnsQuestion(name, type, (ushort)(cls & 0x7FFF), (cls & DnsClass.UnicastResponseBit) != 0);
    }

    public DnsRecord ReadRecord()
    {
        int p = Position;
        var name = ReadName(_msg, ref p, _msg.Length);
        if (_msg.Length - p < 10) throw Malformed("record header truncated");
        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(_msg[p..]);
        ushort clsRaw = BinaryPrimitives.ReadUInt16BigEndian(_msg[(p + 2)..]);
        uint ttl = BinaryPrimitives.ReadUInt32BigEndian(_msg[(p + 4)..]);
        if (ttl > int.MaxValue) ttl = 0; // RFC 2181 §8: top bit set → treat as zero
        int rdlen = BinaryPrimitives.ReadUInt16BigEndian(_msg[(p + 8)..]);
        p += 10;
        if (_msg.Length - p < rdlen) throw Malformed("RDATA runs past the message");
        int rdStart = p, rdEnd = p + rdlen;
        bool flush = (clsRaw & DnsClass.CacheFlushBit) != 0;
        ushort cls = (ushort)(clsRaw & 0x7FFF);
        var rdata = _msg.Slice(rdStart, rdlen);
        DnsRecord rec;
        switch (type)
        {
            case DnsRecordType.A:
                rec = ARecord.Read(name, ttl, flush, cls, rdata);
                break;
            case DnsRecordType.AAAA:
                rec = AaaaRecord.Read(name, ttl, flush, cls, rdata);
                break;
            case DnsRecordType.TXT:
                rec = TxtRecord.Read(name, ttl, flush, cls, rdata);
                break;
            case DnsRecordType.PTR:
            {
                int q = rdStart;
                var target = ReadName(_msg, ref q, rdEnd);
                if (q != rdEnd) throw Malformed("PTR RDATA has trailing octets");
                rec = new PtrRecord(name, target, ttl, flush, cls);
                break;
            }
            case DnsRecordType.SRV:
            {
                if (rdlen < 7) throw Malformed("SRV RDATA too short");
                ushort prio = BinaryPrimitives.ReadUInt16BigEndian(rdata);
                ushort weight = BinaryPrimitives.ReadUInt16BigEndian(rdata[2..]);
                ushort port = BinaryPrimitives.ReadUInt16BigEndian(rdata[4..]);
                int q = rdStart + 6;
                var target = ReadName(_msg, ref q, rdEnd);
                if (q != rdEnd) throw Malformed("SRV RDATA has trailing octets");
                rec = new SrvRecord(name, prio, weight, port, target, ttl, flush, cls);
                break;
            }
            case DnsRecordType.NSEC:
            {
                int q = rdStart;
                var next = ReadName(_msg, ref q, rdEnd);
                rec = NsecRecord.Read(name, ttl, flush, cls, next, _msg[q..rdEnd]);
                break;
            }
            default:
                rec = new UnknownRecord(name, type, rdata, ttl, flush, cls);
                break;
        }
        Position = rdEnd;
        return rec;
    }

    /// <summary>
    /// Reads a possibly compressed name starting at <paramref name="pos"/>; the uncompressed part must end
    /// at or before <paramref name="limit"/>. Advances <paramref name="pos"/> past the in-place part.
    /// </summary>
    internal static DnsName ReadName(ReadOnlySpan<byte> msg, ref int pos, int limit)
    {
        string[] buffer = new string[8];
        int count = 0;
        int p = pos;
        int end = -1;
        int hops = 0;
        int wire = 1;
        int curLimit = limit;
        while (true)
        {
            if (p >= curLimit) throw Malformed("name runs past its end");
            byte len = msg[p];
            if ((len & 0xC0) == 0xC0)
            {
                if (p + 1 >= curLimit) throw Malformed("compression pointer truncated");
                int target = ((len & 0x3F) << 8) | msg[p + 1];
                if (target >= p) throw Malformed("compression pointer does not point backwards");
                if (++hops > MaxPointerHops) throw Malformed("too many compression pointers");
                if (end < 0) end = p + 2;
                p = target;
                curLimit = msg.Length;
                continue;
            }
            if ((len & 0xC0) != 0) throw Malformed("unsupported label type");
            if (len == 0)
            {
                if (end < 0) end = p + 1;
                break;
            }
            if (p + 1 + len > curLimit) throw Malformed("label runs past its end");
            wire += 1 + len;
            if (wire > DnsName.MaxWireLength) throw Malformed("name longer than 255 octets");
            var bytes = msg.Slice(p + 1, len);
            if (!Utf8.IsValid(bytes)) throw Malformed("label is not valid UTF-8");
            if (count == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            buffer[count++] = Encoding.UTF8.GetString(bytes);
            p += 1 + len;
        }
        pos = end;
        return DnsName.FromValidatedLabels(buffer[..count]);
    }
}
