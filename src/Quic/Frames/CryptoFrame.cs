using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Frames;

/// <summary>CRYPTO (RFC 9000 §19.6): <c>Type (i) = 0x06 | Offset (i) | Length (i) | Crypto Data (..)</c>.</summary>
internal ref struct CryptoFrame
{
    public ulong Offset;
    public ReadOnlySpan<byte> Data;

    public static bool TryRead(ref QuicReader r, out CryptoFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.Offset) && r.TryReadLengthPrefixed(ulong.MaxValue, out f.Data)
            && f.Offset + (ulong)f.Data.Length <= QuicVarint.MaxValue) return true;
        r.Rewind(s); return false;
    }

    /// <summary>Bytes of header needed before <paramref name="dataLength"/> bytes of data.</summary>
    public static int HeaderLength(ulong offset, int dataLength) => 1 + QuicVarint.GetEncodedLength(offset) + QuicVarint.GetEncodedLength((ulong)dataLength);

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.Crypto) && w.TryWriteVarint(Offset) && w.TryWriteVarint((ulong)Data.Length) && w.TryWriteBytes(Data)) return true;
        w.Rewind(s); return false;
    }
}
