using System.Buffers.Binary;

namespace OspBridge.Crypto;

/// <summary>
/// Bounds-checked big-endian reader of TLS presentation-language structures, shared by the TLS 1.3 and DTLS 1.2
/// engines. It reads only complete (reassembled) handshake messages, so every violation is a protocol error:
/// <see cref="CryptoException"/> with <see cref="CryptoError.Malformed"/> and the decode_error alert.
/// </summary>
internal ref struct TlsReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public TlsReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    public readonly int Remaining => _data.Length - _pos;
    public readonly bool IsEmpty => _pos == _data.Length;

    /// <summary>The decode_error exception for a malformed <paramref name="what"/>.</summary>
    public static CryptoException Fail(string what) => TlsAlert.Decode("malformed " + what);

    private readonly void Need(int n)
    {
        if (n < 0 || _data.Length - _pos < n) throw TlsAlert.Decode("truncated TLS structure");
    }

    public byte ReadU8()
    {
        Need(1);
        return _data[_pos++];
    }

    public ushort ReadU16()
    {
        Need(2);
        ushort v = BinaryPrimitives.ReadUInt16BigEndian(_data[_pos..]);
        _pos += 2;
        return v;
    }

    public int ReadU24()
    {
        Need(3);
        int v = (_data[_pos] << 16) | (_data[_pos + 1] << 8) | _data[_pos + 2];
        _pos += 3;
        return v;
    }

    public uint ReadU32()
    {
        Need(4);
        uint v = BinaryPrimitives.ReadUInt32BigEndian(_data[_pos..]);
        _pos += 4;
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes(int n)
    {
        Need(n);
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    private ReadOnlySpan<byte> Vector(int len, int min, int max)
    {
        if (len < min || len > max) throw TlsAlert.Decode("vector length out of range");
        return ReadBytes(len);
    }

    /// <summary>Reads an opaque vector with a 1-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector8(int min = 0, int max = 255) => Vector(ReadU8(), min, max);
    /// <summary>Reads an opaque vector with a 2-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector16(int min = 0, int max = 65535) => Vector(ReadU16(), min, max);
    /// <summary>Reads an opaque vector with a 3-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector24(int min = 0, int max = 0xFFFFFF) => Vector(ReadU24(), min, max);

    /// <summary>Throws decode_error when bytes are left (<paramref name="what"/> names the structure).</summary>
    public readonly void EnsureEnd(string what = "TLS structure")
    {
        if (!IsEmpty) throw TlsAlert.Decode("trailing bytes in " + what);
    }
}
