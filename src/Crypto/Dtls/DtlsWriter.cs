using System.Buffers.Binary;

namespace OspBridge.Crypto.Dtls;

/// <summary>Growable big-endian writer for building handshake messages (handshake path only, not per-record).</summary>
internal sealed class DtlsWriter
{
    private byte[] _buf;
    private int _len;

    public DtlsWriter(int capacity = 256) => _buf = new byte[capacity];

    public int Length => _len;

    public ReadOnlySpan<byte> WrittenSpan => _buf.AsSpan(0, _len);

    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();

    private Span<byte> Grow(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    public void U8(int v) => Grow(1)[0] = (byte)v;

    public void U16(int v) => BinaryPrimitives.WriteUInt16BigEndian(Grow(2), (ushort)v);

    public void U24(int v)
    {
        var s = Grow(3);
        s[0] = (byte)(v >> 16);
        s[1] = (byte)(v >> 8);
        s[2] = (byte)v;
    }

    public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Grow(b.Length));

    public void Vector8(ReadOnlySpan<byte> b)
    {
        if (b.Length > 0xFF) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: vector too long");
        U8(b.Length);
        Bytes(b);
    }

    public void Vector16(ReadOnlySpan<byte> b)
    {
        if (b.Length > 0xFFFF) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: vector too long");
        U16(b.Length);
        Bytes(b);
    }

    public void Vector24(ReadOnlySpan<byte> b)
    {
        if (b.Length > 0xFFFFFF) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: vector too long");
        U24(b.Length);
        Bytes(b);
    }

    /// <summary>Reserves a length prefix of <paramref name="size"/> bytes; call <see cref="EndLength"/> with the returned mark.</summary>
    public int BeginLength(int size)
    {
        Grow(size);
        return (_len << 2) | size;
    }

    public void EndLength(int mark)
    {
        int size = mark & 3;
        int start = mark >> 2;
        int len = _len - start;
        var s = _buf.AsSpan(start - size, size);
        if (size == 1) { if (len > 0xFF) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: vector too long"); s[0] = (byte)len; }
        else if (size == 2) { if (len > 0xFFFF) throw new CryptoException(CryptoError.LimitExceeded, "DTLS: vector too long"); BinaryPrimitives.WriteUInt16BigEndian(s, (ushort)len); }
        else { s[0] = (byte)(len >> 16); s[1] = (byte)(len >> 8); s[2] = (byte)len; }
    }
}
