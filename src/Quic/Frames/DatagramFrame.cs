using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>DATAGRAM (RFC 9221 §4): <c>Type (i) = 0x30..0x31 | [Length (i), only 0x31] | Datagram Data (..)</c>.</summary>
internal ref struct DatagramFrame
{
    public ReadOnlySpan<byte> Data;

    public static bool TryRead(ref QuicReader r, bool hasLength, out DatagramFrame f)
    {
        f = default; int s = r.Position;
        if (hasLength)
        {
            if (r.TryReadLengthPrefixed(ulong.MaxValue, out f.Data)) return true;
            r.Rewind(s); return false;
        }
        r.TryReadBytes(r.Remaining, out f.Data);
        return true;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.DatagramLen) && w.TryWriteVarint((ulong)Data.Length) && w.TryWriteBytes(Data)) return true;
        w.Rewind(s); return false;
    }
}
