using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>RESET_STREAM (RFC 9000 §19.4): <c>Type (i) = 0x04 | Stream ID (i) | Application Protocol Error Code (i) | Final Size (i)</c>.</summary>
internal struct ResetStreamFrame
{
    public ulong StreamId, ErrorCode, FinalSize;

    public static bool TryRead(ref QuicReader r, out ResetStreamFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.StreamId) && r.TryReadVarint(out f.ErrorCode) && r.TryReadVarint(out f.FinalSize)) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.ResetStream) && w.TryWriteVarint(StreamId) && w.TryWriteVarint(ErrorCode) && w.TryWriteVarint(FinalSize)) return true;
        w.Rewind(s); return false;
    }
}
