using System.Buffers.Binary;

namespace OspBridge.Crypto.Dtls;

/// <summary>
/// Bounds-checked big-endian reader over a complete handshake message body. Every failure throws
/// <see cref="CryptoException"/> with <see cref="CryptoError.Malformed"/> and the decode_error alert, because a
/// handshake message is only parsed once it has been fully reassembled (a truncated body is a protocol error).
/// </summary>
internal ref struct DtlsReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public DtlsReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    public readonly int Remaining => _data.Length - _pos;

    public readonly bool IsEmpty => _pos == _data.Length;

    public static CryptoException Fail(string what) =>
        new(CryptoError.Malformed, "DTLS: malformed " + what, DtlsAlert.DecodeError);

    public byte ReadU8()
    {
        if (Remaining < 1) throw Fail("message (truncated u8)");
        return _data[_pos++];
    }

    public ushort ReadU16()
    {
        if (Remaining < 2) throw Fail("message (truncated u16)");
        var v = BinaryPrimitives.ReadUInt16BigEndian(_data[_pos..]);
        _pos += 2;
        return v;
    }

    public int ReadU24()
    {
        if (Remaining < 3) throw Fail("message (truncated u24)");
        int v = (_data[_pos] << 16) | (_data[_pos + 1] << 8) | _data[_pos + 2];
        _pos += 3;
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || Remaining < count) throw Fail("message (truncated field)");
        var s = _data.Slice(_pos, count);
        _pos += count;
        return s;
    }

    /// <summary>Reads an opaque vector with a 1-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector8(int min = 0, int max = 255)
    {
        int len = ReadU8();
        if (len < min || len > max) throw Fail("vector length");
        return ReadBytes(len);
    }

    /// <summary>Reads an opaque vector with a 2-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector16(int min = 0, int max = ushort.MaxValue)
    {
        int len = ReadU16();
        if (len < min || len > max) throw Fail("vector length");
        return ReadBytes(len);
    }

    /// <summary>Reads an opaque vector with a 3-byte length in [min, max].</summary>
    public ReadOnlySpan<byte> ReadVector24(int min = 0, int max = 0xFFFFFF)
    {
        int len = ReadU24();
        if (len < min || len > max) throw Fail("vector length");
        return ReadBytes(len);
    }

    public readonly void ExpectEnd(string what)
    {
        if (!IsEmpty) throw Fail(what + " (trailing bytes)");
    }
}
