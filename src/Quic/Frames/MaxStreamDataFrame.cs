using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>MAX_STREAM_DATA (RFC 9000 §19.10): <c>Type (i) = 0x11 | Stream ID (i) | Maximum Stream Data (i)</c>.</summary>
internal struct MaxStreamDataFrame
{
    public ulong StreamId, MaximumStreamData;

    public static bool TryRead(ref QuicReader r, out MaxStreamDataFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.StreamId) && r.TryReadVarint(out f.MaximumStreamData)) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.MaxStreamData) && w.TryWriteVarint(StreamId) && w.TryWriteVarint(MaximumStreamData)) return true;
        w.Rewind(s); return false;
    }
}
