using System.Buffers.Binary;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// An interleaved binary frame on the RTSP TCP connection (RFC 2326 §10.12, RFC 7826 §14):
/// '$' (0x24) | channel (8) | length (16, big-endian) | length octets (one RTP or RTCP packet).
/// </summary>
public static class RtspInterleavedFrame
{
    /// <summary>The frame marker.</summary>
    public const byte Marker = 0x24;

    /// <summary>Octets before the payload: marker, channel, 16-bit length.</summary>
    public const int HeaderLength = 4;

    /// <summary>
    /// Reads one frame from the start of <paramref name="data"/>: the payload is sliced, not copied. Returns
    /// <see cref="RtspReadStatus.Invalid"/> if the first octet is not '$'.
    /// </summary>
    public static RtspReadStatus TryRead(ReadOnlySpan<byte> data, out byte channel, out ReadOnlySpan<byte> payload, out int consumed)
    {
        channel = 0;
        payload = default;
        consumed = 0;
        if (data.IsEmpty)
            return RtspReadStatus.NeedMoreData;
        if (data[0] != Marker)
            return RtspReadStatus.Invalid;
        if (data.Length < 4)
            return RtspReadStatus.NeedMoreData;
        int length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (data.Length < 4 + length)
            return RtspReadStatus.NeedMoreData;
        channel = data[1];
        payload = data.Slice(4, length);
        consumed = 4 + length;
        return RtspReadStatus.Complete;
    }

    /// <summary>Writes a frame header + payload. False if the payload exceeds 65535 octets or the destination is short.</summary>
    public static bool TryWrite(Span<byte> destination, byte channel, ReadOnlySpan<byte> payload, out int written)
    {
        written = 0;
        if (payload.Length > ushort.MaxValue || destination.Length < 4 + payload.Length)
            return false;
        destination[0] = Marker;
        destination[1] = channel;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payload.Length);
        payload.CopyTo(destination[4..]);
        written = 4 + payload.Length;
        return true;
    }
}
