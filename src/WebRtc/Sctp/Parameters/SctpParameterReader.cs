using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Walks TLV parameters / error causes (RFC 9260 §3.2.1, §3.3.10):
/// <code>
///  | Parameter Type (16) | Parameter Length (16, incl. header, excl. padding) |
///  | Parameter Value, zero-padded to a multiple of 4                          |
/// </code>
/// </summary>
internal ref struct SctpParameterReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public SctpParameterReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    /// <summary>True once every byte was consumed (the last parameter's padding may be absent).</summary>
    public readonly bool AtEnd => _position >= _data.Length;

    /// <summary>Reads the next parameter; false at the end or when malformed.</summary>
    public bool TryRead(out ushort type, out ReadOnlySpan<byte> value)
    {
        type = 0;
        value = default;
        var rest = _data.Slice(Math.Min(_position, _data.Length));
        if (rest.Length < 4)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest.Slice(2));
        if (length < 4 || length > rest.Length)
        {
            return false;
        }
        type = BinaryPrimitives.ReadUInt16BigEndian(rest);
        value = rest.Slice(4, length - 4);
        _position += (length + 3) & ~3;
        return true;
    }

    /// <summary>Writes one parameter (header, value, padding) and returns its padded length.</summary>
    public static int Write(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), checked((ushort)(value.Length + 4)));
        value.CopyTo(destination.Slice(4));
        int padded = (value.Length + 7) & ~3;
        destination.Slice(4 + value.Length, padded - 4 - value.Length).Clear();
        return padded;
    }

    /// <summary>Writes a parameter header for a value of <paramref name="valueLength"/> bytes written by the caller; returns the padded length (padding cleared).</summary>
    public static int WriteHeader(Span<byte> destination, ushort type, int valueLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), checked((ushort)(valueLength + 4)));
        int padded = (valueLength + 7) & ~3;
        destination.Slice(4 + valueLength, padded - 4 - valueLength).Clear();
        return padded;
    }
}
