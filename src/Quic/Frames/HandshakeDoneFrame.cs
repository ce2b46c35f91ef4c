using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>HANDSHAKE_DONE (RFC 9000 §19.20): <c>Type (i) = 0x1e</c>; server only, confirms the handshake.</summary>
internal static class HandshakeDoneFrame
{
    public static bool TryWrite(ref QuicWriter w) => w.TryWriteByte((byte)FrameType.HandshakeDone);
}
