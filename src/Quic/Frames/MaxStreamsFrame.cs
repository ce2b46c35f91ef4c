using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>MAX_STREAMS (RFC 9000 §19.11): <c>Type (i) = 0x12 (bidi) / 0x13 (uni) | Maximum Streams (i)</c>; value ≤ 2^60.</summary>
internal struct MaxStreamsFrame
{
    public const ulong Limit = 1UL << 60;
    public bool Bidirectional;
    public ulong MaximumStreams;

    public static bool TryRead(ref QuicReader r, bool bidi, out MaxStreamsFrame f) { f = new MaxStreamsFrame { Bidirectional = bidi }; return r.TryReadVarint(out f.MaximumStreams); }

    public readonly bool TryWrite(ref QuicWriter w) =>
        w.TryWriteTypeAndVarint((byte)(Bidirectional ? FrameType.MaxStreamsBidi : FrameType.MaxStreamsUni), MaximumStreams);
}
