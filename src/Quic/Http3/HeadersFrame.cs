using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Http3;

// RFC 9114 §7.2.2
//   HEADERS Frame {
//     Type (i) = 0x01,
//     Length (i),
//     Encoded Field Section (..),   // QPACK, RFC 9204 §4.5
//   }

/// <summary>HEADERS frame encoding/decoding.</summary>
internal static class HeadersFrame
{
    public static byte[] Encode(IEnumerable<HeaderField> fields) => Http3Frame.Encode(Http3FrameType.Headers, QpackEncoder.Encode(fields));
    public static List<HeaderField> Decode(ReadOnlySpan<byte> payload, int maxFieldSectionSize) => QpackDecoder.Decode(payload, maxFieldSectionSize);
}
