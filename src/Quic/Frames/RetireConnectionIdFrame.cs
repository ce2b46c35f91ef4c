using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>RETIRE_CONNECTION_ID (RFC 9000 §19.16): <c>Type (i) = 0x19 | Sequence Number (i)</c>.</summary>
internal struct RetireConnectionIdFrame
{
    public ulong SequenceNumber;

    public static bool TryRead(ref QuicReader r, out RetireConnectionIdFrame f) { f = default; return r.TryReadVarint(out f.SequenceNumber); }

    public readonly bool TryWrite(ref QuicWriter w) => w.TryWriteTypeAndVarint((byte)FrameType.RetireConnectionId, SequenceNumber);
}
