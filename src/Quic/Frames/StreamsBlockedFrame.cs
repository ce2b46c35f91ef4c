using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>STREAMS_BLOCKED (RFC 9000 §19.14): <c>Type (i) = 0x16 (bidi) / 0x17 (uni) | Maximum Streams (i)</c>.</summary>
internal struct StreamsBlockedFrame
{
    public bool Bidirectional;
    public ulong MaximumStreams;

    public static bool TryRead(ref QuicReader r, bool bidi, out StreamsBlockedFrame f) { f = new StreamsBlockedFrame { Bidirectional = bidi }; return r.TryReadVarint(out f.MaximumStreams); }

    public readonly bool TryWrite(ref QuicWriter w) =>
        w.TryWriteTypeAndVarint((byte)(Bidirectional ? FrameType.StreamsBlockedBidi : FrameType.StreamsBlockedUni), MaximumStreams);
}
