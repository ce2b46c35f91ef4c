using System.Buffers.Binary;
using System.Text;

namespace OspBridge.Net.Dns;

/// <summary>
/// Writes DNS messages into a bounded buffer with name compression (RFC 1035 §4.1.4): every name suffix
/// written at an offset below 0x4000 is remembered and later occurrences become 2-octet pointers.
/// Writes that do not fit set an overflow flag instead of throwing; <see cref="TryWriteRecord"/> and
/// <see cref="TryWriteQuestion"/> are transactional (roll back position and compression table), so a
/// caller can fill a packet record by record and start the next packet when one does not fit.
/// </summary>
internal sealed class DnsWriter
{
    private readonly byte[] _buffer;
    private readonly bool _compress;
    private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);
    private readonly List<(string Key, int Offset)> _nameLog = [];
    private bool _overflow;

    public DnsWriter(int maxSize, bool compress = true)
    {
        _buffer = new byte[maxSize];
        _compress = compress;
    }

    public int Position { get; private set; }

    public bool Overflowed => _overflow;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, Position);

    public byte[] ToArray() => _buffer.AsSpan(0, Position).ToArray();

    public void WriteByte(byte b)
    {
        if (Position + 1 > _buffer.Length) { _overflow = true; return; }
        _buffer[Position++] = b;
    }

    public void WriteUInt16(ushort v)
    {
        if (Position + 2 > _buffer.Length) { _overflow = true; return; }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(Position), v);
        Position += 2;
    }

    public void WriteUInt32(uint v)
    {
        if (Position + 4 > _buffer.Length) { _overflow = true; return; }
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(Position), v);
        Position += 4;
    }

    public void WriteBytes(ReadOnlySpan<byte> b)
    {
        if (Position + b.Length > _buffer.Length) { _overflow = true; return; }
        b.CopyTo(_buffer.AsSpan(Position));
        Position += b.Length;
    }

    public void PatchUInt16(int offset, ushort v) => BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(offset), v);

    public void WriteName(DnsName name)
    {
        var labels = name.Labels;
        // Suffix keys from the end: key(i) = lower(label i) + "." + key(i+1).
        var keys = new string[labels.Count];
        string acc = "";
        for (int i = labels.Count - 1; i >= 0; i--)
        {
            acc = LabelKey(labels[i]) + "." + acc;
            keys[i] = acc;
        }
        for (int i = 0; i < labels.Count; i++)
        {
            if (_compress && _names.TryGetValue(keys[i], out int target))
            {
                WriteUInt16((ushort)(0xC000 | target));
                return;
            }
            if (_compress && Position < 0x4000 && !_overflow)
            {
                _names[keys[i]] = Position;
                _nameLog.Add((keys[i], Position));
            }
            byte[] bytes = Encoding.UTF8.GetBytes(labels[i]);
            WriteByte((byte)bytes.Length);
            WriteBytes(bytes);
        }
        WriteByte(0);
    }

    private static string LabelKey(string label)
    {
        var sb = new StringBuilder(label.Length);
        foreach (char c in label)
        {
            if (c is '.' or '\\') sb.Append('\\');
            sb.Append(c is >= 'A' and <= 'Z' ? (char)(c + 32) : c);
        }
        return sb.ToString();
    }

    /// <summary>Writes the 12-octet header (counts patched later with <see cref="PatchCounts"/>).</summary>
    public void WriteHeader(DnsHeader header, int qd = 0, int an = 0, int ns = 0, int ar = 0)
    {
        WriteUInt16(header.Id);
        WriteUInt16(header.Flags);
        WriteUInt16((ushort)qd);
        WriteUInt16((ushort)an);
        WriteUInt16((ushort)ns);
        WriteUInt16((ushort)ar);
    }

    public void PatchCounts(int qd, int an, int ns, int ar)
    {
        PatchUInt16(4, (ushort)qd);
        PatchUInt16(6, (ushort)an);
        PatchUInt16(8, (ushort)ns);
        PatchUInt16(10, (ushort)ar);
    }

    public bool TryWriteQuestion(DnsQuestion q)
    {
        var (pos, log) = (Position, _nameLog.Count);
        WriteName(q.Name);
        WriteUInt16((ushort)q.Type);
        WriteUInt16((ushort)(q.Class | (q.UnicastResponse ? DnsClass.UnicastResponseBit : 0)));
        return Commit(pos, log);
    }

    public bool TryWriteRecord(DnsRecord r)
    {
        var (pos, log) = (Position, _nameLog.Count);
        WriteName(r.Name);
        WriteUInt16((ushort)r.Type);
        WriteUInt16((ushort)(r.Class | (r.CacheFlush ? DnsClass.CacheFlushBit : 0)));
        WriteUInt32(r.Ttl);
        int lenAt = Position;
        WriteUInt16(0);
        int start = Position;
        r.WriteData(this);
        if (!_overflow)
        {
            int len = Position - start;
            if (len > ushort.MaxValue) _overflow = true;
            else PatchUInt16(lenAt, (ushort)len);
        }
        return Commit(pos, log);
    }

    private bool Commit(int pos, int log)
    {
        if (!_overflow) return true;
        Position = pos;
        for (int i = _nameLog.Count - 1; i >= log; i--)
            _names.Remove(_nameLog[i].Key);
        _nameLog.RemoveRange(log, _nameLog.Count - log);
        _overflow = false;
        return false;
    }
}
