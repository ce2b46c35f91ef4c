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

    /// <summary>
    /// The most data bytes a frame with an explicit Length field can carry in <paramref name="room"/> bytes after a
    /// <paramref name="prefixLength"/>-byte prefix (type, stream ID and Offset field; CRYPTO has the same layout
    /// without the stream ID): the Length varint itself takes 2 bytes up to 16383 data bytes and 4 beyond (RFC 9000
    /// §16), so it is sized from the room, not assumed. Returns 0 when no data byte fits.
    /// </summary>
    public static int MaxDataLength(int room, int prefixLength)
    {
        int rest = room - prefixLength;
        if (rest <= 1) return 0;
        // any length ≤ rest encodes in at most as many bytes as rest does
        return rest - QuicVarint.GetEncodedLength((ulong)rest);
    }

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
