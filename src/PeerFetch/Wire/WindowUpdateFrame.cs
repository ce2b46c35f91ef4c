using System.Buffers.Binary;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// WINDOW_UPDATE (type 0x8): stream 0 = the channel window, else that stream's window.
/// <code>
///  R (1) | Window Size Increment (31)      increment 1..2^31-1
/// </code>
/// </summary>
internal static class WindowUpdateFrame
{
    public const int PayloadLength = 4;

    public static bool TryRead(ReadOnlySpan<byte> payload, out uint increment)
    {
        increment = 0;
        if (payload.Length != PayloadLength) return false;
        increment = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fff_ffffu;
        return increment != 0;
    }

    public static byte[] Create(uint streamId, uint increment)
    {
        var frame = FrameHeader.Allocate(FrameType.WindowUpdate, FrameFlags.None, streamId, PayloadLength);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(FrameHeader.Size), increment & 0x7fff_ffffu);
        return frame;
    }

    /// <summary>The same bytes as <see cref="Create"/> in a pooled array (sent every half window: no allocation).</summary>
    public static OutFrame CreatePooled(uint streamId, uint increment)
    {
        var frame = OutFrame.Rent(FrameType.WindowUpdate, FrameFlags.None, streamId, PayloadLength);
        BinaryPrimitives.WriteUInt32BigEndian(frame.Payload, increment & 0x7fff_ffffu);
        return frame;
    }
}
