using System.Buffers.Binary;

namespace OspBridge.Crypto;

/// <summary>
/// Growable big-endian writer of TLS structures with back-patched length prefixes, shared by the TLS 1.3 and
/// DTLS 1.2 engines (handshake path only, not per record). Integer writers take the low bits of their argument.
/// </summary>
internal sealed class TlsWriter
{
    private byte[] _buf;
    private int _len;

    public TlsWriter(int capacity = 256) => _buf = new byte[capacity];

    public int Length => _len;
    public void Reset() => _len = 0;
    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _len);
    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();

    private Span<byte> Grow(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    public void WriteU8(int v) => Grow(1)[0] = (byte)v;
    public void WriteU16(int v) => BinaryPrimitives.WriteUInt16BigEndian(Grow(2), (ushort)v);

    public void WriteU24(int v)
    {
        var s = Grow(3);
        s[0] = (byte)(v >> 16);
        s[1] = (byte)(v >> 8);
        s[2] = (byte)v;
    }

    public void WriteU32(uint v) => BinaryPrimitives.WriteUInt32BigEndian(Grow(4), v);
    public void WriteBytes(ReadOnlySpan<byte> b) => b.CopyTo(Grow(b.Length));

    /// <summary>Reserves a length prefix of <paramref name="size"/> (1..3) bytes; returns a mark for <see cref="EndVector"/>.</summary>
    public int BeginVector(int size)
    {
        Grow(size).Clear();
        return (_len << 2) | size;
    }

    /// <summary>Back-patches the length prefix reserved by <see cref="BeginVector"/>.</summary>
    /// <exception cref="CryptoException">The vector is longer than its prefix can express.</exception>
    public void EndVector(int mark)
    {
        int size = mark & 3, start = mark >> 2;
        int len = _len - start;
        if (len >= 1 << (8 * size)) throw new CryptoException(CryptoError.LimitExceeded, "TLS vector too long", TlsAlert.InternalError);
        for (int i = 0; i < size; i++) _buf[start - 1 - i] = (byte)(len >> (8 * i));
    }

    public void WriteVector8(ReadOnlySpan<byte> b) { int m = BeginVector(1); WriteBytes(b); EndVector(m); }
    public void WriteVector16(ReadOnlySpan<byte> b) { int m = BeginVector(2); WriteBytes(b); EndVector(m); }
    public void WriteVector24(ReadOnlySpan<byte> b) { int m = BeginVector(3); WriteBytes(b); EndVector(m); }

    /// <summary>Writes a TLS handshake message header (type, uint24 length) and returns the mark to close it.</summary>
    public int BeginHandshake(byte type)
    {
        WriteU8(type);
        return BeginVector(3);
    }
}
