using System.Buffers.Binary;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// RESET (type 0x3), stream ≠ 0: abort one request in both directions (cancel, refuse, error).
/// <code>
///  Error Code (32)
/// </code>
/// </summary>
internal static class ResetFrame
{
    public const int PayloadLength = 4;

    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out PeerFetchErrorCode code)
    {
        code = default;
        if (header.StreamId == 0 || payload.Length != PayloadLength) return false;
        code = (PeerFetchErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload);
        return true;
    }

    public static byte[] Create(uint streamId, PeerFetchErrorCode code)
    {
        var frame = FrameHeader.Allocate(FrameType.Reset, FrameFlags.None, streamId, PayloadLength);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(FrameHeader.Size), (uint)code);
        return frame;
    }
}
