namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// DATA (type 0x0), stream ≠ 0: a piece of a request or response body. Payload: the bytes (may be empty).
/// Flags: END_STREAM (0x1). Counts against both the stream's and the channel's receive window.
/// </summary>
internal static class DataFrame
{
    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out PeerFetchErrorCode error)
    {
        error = PeerFetchErrorCode.NoError;
        if (header.StreamId == 0) { error = PeerFetchErrorCode.ProtocolError; return false; }
        if (payload.Length != header.Length) { error = PeerFetchErrorCode.FrameSizeError; return false; }
        return true;
    }

    public static byte[] Create(uint streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        var frame = FrameHeader.Allocate(FrameType.Data, endStream ? FrameFlags.EndStream : FrameFlags.None, streamId, data.Length);
        data.CopyTo(frame.AsSpan(FrameHeader.Size));
        return frame;
    }

    /// <summary>The same bytes as <see cref="Create"/> in a pooled array (the send path: no allocation per frame).</summary>
    public static OutFrame CreatePooled(uint streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        var frame = OutFrame.Rent(FrameType.Data, endStream ? FrameFlags.EndStream : FrameFlags.None, streamId, data.Length);
        data.CopyTo(frame.Payload);
        return frame;
    }
}
