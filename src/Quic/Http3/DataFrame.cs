namespace OspBridge.Quic.Http3;

// RFC 9114 §7.2.1
//   DATA Frame {
//     Type (i) = 0x00,
//     Length (i),
//     Data (..),
//   }

/// <summary>DATA frame encoding; payloads are streamed by the message reader, never buffered whole.</summary>
internal static class DataFrame
{
    public static byte[] Encode(ReadOnlySpan<byte> data) => Http3Frame.Encode(Http3FrameType.Data, data);
    public static byte[] EncodeHeader(long length) => Http3Frame.EncodeHeader(Http3FrameType.Data, (ulong)length);

    /// <summary>Bytes of the header (type, length varint) of a DATA frame carrying <paramref name="length"/> bytes.</summary>
    public static int HeaderLength(long length) => 1 + OspBridge.Net.Wire.QuicVarint.GetEncodedLength((ulong)length);

    /// <summary>Writes that header into <paramref name="destination"/> (no array); returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, long length)
    {
        destination[0] = (byte)Http3FrameType.Data; // type 0x00: a one-byte varint
        return 1 + OspBridge.Net.Wire.QuicVarint.Write(destination[1..], (ulong)length);
    }
}
