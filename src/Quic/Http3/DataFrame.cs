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
}
