using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Walks TLV parameters / error causes (RFC 9260 §3.2.1, §3.3.10; layout in <see cref="SctpTlv"/>):
/// <code>
///  | Parameter Type (16) | Parameter Length (16, incl. header, excl. padding) |
///  | Parameter Value, zero-padded to a multiple of 4                          |
/// </code>
/// </summary>
internal ref struct SctpParameterReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    /// <summary>True once every byte was consumed (the last parameter's padding may be absent).</summary>
    public readonly bool AtEnd => _position >= _data.Length;

    /// <summary>Reads the next parameter; false at the end or when malformed.</summary>
    public bool TryRead(out ushort type, out ReadOnlySpan<byte> value)
    {
        bool ok = SctpTlv.TryReadNext(_data, ref _position, out var tlv);
        type = ok ? BinaryPrimitives.ReadUInt16BigEndian(tlv) : (ushort)0;
        value = ok ? tlv.Slice(SctpTlv.HeaderLength) : default;
        return ok;
    }

    /// <summary>Writes one parameter (header, value, padding) and returns its padded length.</summary>
    public static int Write(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        value.CopyTo(destination.Slice(SctpTlv.HeaderLength));
        return WriteHeader(destination, type, value.Length);
    }

    /// <summary>Writes a parameter header for a value of <paramref name="valueLength"/> bytes written by the caller; returns the padded length (padding cleared).</summary>
    public static int WriteHeader(Span<byte> destination, ushort type, int valueLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        return SctpTlv.WriteLength(destination, valueLength);
    }
}
