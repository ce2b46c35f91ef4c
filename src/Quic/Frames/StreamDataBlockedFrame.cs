using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>STREAM_DATA_BLOCKED (RFC 9000 §19.13): <c>Type (i) = 0x15 | Stream ID (i) | Maximum Stream Data (i)</c>.</summary>
internal struct StreamDataBlockedFrame
{
    public ulong StreamId, MaximumStreamData;

    public static bool TryRead(ref QuicReader r, out StreamDataBlockedFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.StreamId) && r.TryReadVarint(out f.MaximumStreamData)) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.StreamDataBlocked) && w.TryWriteVarint(StreamId) && w.TryWriteVarint(MaximumStreamData)) return true;
        w.Rewind(s); return false;
    }
}
