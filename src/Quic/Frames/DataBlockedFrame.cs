using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>DATA_BLOCKED (RFC 9000 §19.12): <c>Type (i) = 0x14 | Maximum Data (i)</c>.</summary>
internal struct DataBlockedFrame
{
    public ulong MaximumData;

    public static bool TryRead(ref QuicReader r, out DataBlockedFrame f) { f = default; return r.TryReadVarint(out f.MaximumData); }

    public readonly bool TryWrite(ref QuicWriter w) => w.TryWriteTypeAndVarint((byte)FrameType.DataBlocked, MaximumData);
}
