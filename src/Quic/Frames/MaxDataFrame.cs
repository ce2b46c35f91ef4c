using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>MAX_DATA (RFC 9000 §19.9): <c>Type (i) = 0x10 | Maximum Data (i)</c>.</summary>
internal struct MaxDataFrame
{
    public ulong MaximumData;

    public static bool TryRead(ref QuicReader r, out MaxDataFrame f) { f = default; return r.TryReadVarint(out f.MaximumData); }

    public readonly bool TryWrite(ref QuicWriter w) => w.TryWriteTypeAndVarint((byte)FrameType.MaxData, MaximumData);
}
