using System.Buffers.Binary;
using System.Text;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// GOAWAY (type 0x7), stream 0: the sender starts no new streams and accepts none above Last-Stream-Id; streams at or
/// below it are finished normally.
/// <code>
///  R (1) | Last-Stream-Id (31) | Error Code (32) | Debug Data (UTF-8, 0..256 bytes)
/// </code>
/// </summary>
internal static class GoAwayFrame
{
    public const int MinPayloadLength = 8;
    public const int MaxDebugLength = 256;

    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out uint lastStreamId, out PeerFetchErrorCode code, out string debug)
    {
        lastStreamId = 0; code = default; debug = "";
        if (header.StreamId != 0 || payload.Length < MinPayloadLength || payload.Length > MinPayloadLength + MaxDebugLength) return false;
        lastStreamId = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fff_ffffu;
        code = (PeerFetchErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]);
        try { debug = new UTF8Encoding(false, true).GetString(payload[8..]); }
        catch (DecoderFallbackException) { return false; }
        return true;
    }

    public static byte[] Create(uint lastStreamId, PeerFetchErrorCode code, string debug)
    {
        var text = Encoding.UTF8.GetBytes(debug);
        if (text.Length > MaxDebugLength) text = text[..MaxDebugLength];
        var frame = FrameHeader.Allocate(FrameType.GoAway, FrameFlags.None, 0, MinPayloadLength + text.Length);
        var p = frame.AsSpan(FrameHeader.Size);
        BinaryPrimitives.WriteUInt32BigEndian(p, lastStreamId & 0x7fff_ffffu);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], (uint)code);
        text.CopyTo(p[8..]);
        return frame;
    }
}
