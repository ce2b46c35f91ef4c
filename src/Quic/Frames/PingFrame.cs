using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>PING (RFC 9000 §19.2): <c>Type (i) = 0x01</c>; ack-eliciting, no content.</summary>
internal static class PingFrame
{
    public static bool TryWrite(ref QuicWriter w) => w.TryWriteByte((byte)FrameType.Ping);
}
