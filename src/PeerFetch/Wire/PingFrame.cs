namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// PING (type 0x6), stream 0: liveness and RTT. Payload: 8 opaque bytes, echoed back with the ACK flag (0x1).
/// </summary>
internal static class PingFrame
{
    public const int PayloadLength = 8;

    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out ulong opaque)
    {
        opaque = 0;
        if (header.StreamId != 0 || payload.Length != PayloadLength) return false;
        opaque = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(payload);
        return true;
    }

    public static byte[] Create(ulong opaque, bool ack)
    {
        var frame = FrameHeader.Allocate(FrameType.Ping, ack ? FrameFlags.EndStream : FrameFlags.None, 0, PayloadLength);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(FrameHeader.Size), opaque);
        return frame;
    }
}
