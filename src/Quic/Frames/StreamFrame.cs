using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Frames;

/// <summary>
/// STREAM (RFC 9000 §19.8): <c>Type (i) = 0b00001OLF | Stream ID (i) | [Offset (i)] | [Length (i)] | Stream Data (..)</c>;
/// O = offset present, L = length present (else data runs to the end of the packet), F = FIN.
/// </summary>
internal ref struct StreamFrame
{
    public const byte OffBit = 0x04, LenBit = 0x02, FinBit = 0x01;

    public ulong StreamId;
    public ulong Offset;
    public bool Fin;
    public ReadOnlySpan<byte> Data;

    public static bool TryRead(ref QuicReader r, byte type, out StreamFrame f)
    {
        f = default; int s = r.Position;
        f.Fin = (type & FinBit) != 0;
        if (!r.TryReadVarint(out f.StreamId)) { r.Rewind(s); return false; }
        if ((type & OffBit) != 0 && !r.TryReadVarint(out f.Offset)) { r.Rewind(s); return false; }
        if ((type & LenBit) != 0)
        {
            if (!r.TryReadLengthPrefixed(ulong.MaxValue, out f.Data)) { r.Rewind(s); return false; }
        }
        else
        {
            r.TryReadBytes(r.Remaining, out f.Data);
        }
        if (f.Offset + (ulong)f.Data.Length > QuicVarint.MaxValue) { r.Rewind(s); return false; }
        return true;
    }

    /// <summary>Header bytes for a frame with an explicit length.</summary>
    public static int HeaderLength(ulong streamId, ulong offset, int dataLength)
        => 1 + QuicVarint.GetEncodedLength(streamId) + (offset > 0 ? QuicVarint.GetEncodedLength(offset) : 0) + QuicVarint.GetEncodedLength((ulong)dataLength);

    /// <summary>Writes the frame; with <paramref name="explicitLength"/> false the data must fill the rest of the packet.</summary>
    public readonly bool TryWrite(ref QuicWriter w, bool explicitLength = true)
    {
        int s = w.Position;
        byte type = (byte)((byte)FrameType.Stream | (Offset > 0 ? OffBit : 0) | (explicitLength ? LenBit : 0) | (Fin ? FinBit : 0));
        if (w.TryWriteByte(type) && w.TryWriteVarint(StreamId) && (Offset == 0 || w.TryWriteVarint(Offset))
            && (!explicitLength || w.TryWriteVarint((ulong)Data.Length)) && w.TryWriteBytes(Data)) return true;
        w.Rewind(s); return false;
    }
}
