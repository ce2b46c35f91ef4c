using System.Buffers.Binary;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Internal;

/// <summary>Forward-only reader over a span; every Try method leaves the position unchanged on failure.</summary>
internal ref struct QuicReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _pos;

    public QuicReader(ReadOnlySpan<byte> buffer) { _buffer = buffer; _pos = 0; }

    public readonly int Position => _pos;
    public readonly int Remaining => _buffer.Length - _pos;
    public readonly ReadOnlySpan<byte> RemainingSpan => _buffer[_pos..];
    public readonly bool End => _pos >= _buffer.Length;

    public bool TryReadVarint(out ulong value)
    {
        if (!QuicVarint.TryRead(_buffer[_pos..], out value, out int n)) return false;
        _pos += n;
        return true;
    }

    public bool TryReadByte(out byte value)
    {
        if (_pos >= _buffer.Length) { value = 0; return false; }
        value = _buffer[_pos++];
        return true;
    }

    public bool TryReadUInt16(out ushort value)
    {
        if (Remaining < 2) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt16BigEndian(_buffer[_pos..]);
        _pos += 2;
        return true;
    }

    public bool TryReadUInt32(out uint value)
    {
        if (Remaining < 4) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt32BigEndian(_buffer[_pos..]);
        _pos += 4;
        return true;
    }

    public bool TryReadBytes(int length, out ReadOnlySpan<byte> value)
    {
        if (length < 0 || Remaining < length) { value = default; return false; }
        value = _buffer.Slice(_pos, length);
        _pos += length;
        return true;
    }

    /// <summary>Reads a varint length followed by that many bytes, rejecting lengths above <paramref name="max"/>.</summary>
    public bool TryReadLengthPrefixed(ulong max, out ReadOnlySpan<byte> value)
    {
        int start = _pos;
        if (!TryReadVarint(out ulong len) || len > max || len > (ulong)Remaining) { _pos = start; value = default; return false; }
        value = _buffer.Slice(_pos, (int)len);
        _pos += (int)len;
        return true;
    }

    public void Advance(int n) => _pos += n;
    public void Rewind(int position) => _pos = position;
}

/// <summary>Forward-only writer over a span; Try methods return false (and write nothing) when out of room.</summary>
internal ref struct QuicWriter
{
    private readonly Span<byte> _buffer;
    private int _pos;

    public QuicWriter(Span<byte> buffer) { _buffer = buffer; _pos = 0; }

    public readonly int Position => _pos;
    public readonly int Remaining => _buffer.Length - _pos;
    public readonly Span<byte> Written => _buffer[.._pos];
    public readonly Span<byte> Buffer => _buffer;

    public bool TryWriteVarint(ulong value)
    {
        if (value > QuicVarint.MaxValue || !QuicVarint.TryWrite(_buffer[_pos..], value, out int n)) return false;
        _pos += n;
        return true;
    }

    public bool TryWriteByte(byte value)
    {
        if (_pos >= _buffer.Length) return false;
        _buffer[_pos++] = value;
        return true;
    }

    /// <summary>A frame of one type byte and one varint (MAX_DATA, DATA_BLOCKED, MAX_STREAMS, STREAMS_BLOCKED,
    /// RETIRE_CONNECTION_ID): both or nothing.</summary>
    public bool TryWriteTypeAndVarint(byte type, ulong value)
    {
        int start = _pos;
        if (TryWriteByte(type) && TryWriteVarint(value)) return true;
        _pos = start;
        return false;
    }

    public bool TryWriteUInt16(ushort value)
    {
        if (Remaining < 2) return false;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_pos..], value);
        _pos += 2;
        return true;
    }

    public bool TryWriteUInt32(uint value)
    {
        if (Remaining < 4) return false;
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[_pos..], value);
        _pos += 4;
        return true;
    }

    public bool TryWriteBytes(ReadOnlySpan<byte> value)
    {
        if (Remaining < value.Length) return false;
        value.CopyTo(_buffer[_pos..]);
        _pos += value.Length;
        return true;
    }

    public void Advance(int n) => _pos += n;
    public void Rewind(int position) => _pos = position;
}
