using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>STOP_SENDING (RFC 9000 §19.5): <c>Type (i) = 0x05 | Stream ID (i) | Application Protocol Error Code (i)</c>.</summary>
internal struct StopSendingFrame
{
    public ulong StreamId, ErrorCode;

    public static bool TryRead(ref QuicReader r, out StopSendingFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.StreamId) && r.TryReadVarint(out f.ErrorCode)) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.StopSending) && w.TryWriteVarint(StreamId) && w.TryWriteVarint(ErrorCode)) return true;
        w.Rewind(s); return false;
    }
}
