using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Http3;

// RFC 9114 §7.2.6
//   GOAWAY Frame {
//     Type (i) = 0x07,
//     Length (i),
//     Stream ID/Push ID (i),
//   }

/// <summary>GOAWAY frame encoding/decoding.</summary>
internal static class GoawayFrame
{
    public static byte[] Encode(ulong id)
    {
        var p = new List<byte>();
        Http3Frame.WriteVarint(p, id);
        return Http3Frame.Encode(Http3FrameType.Goaway, [.. p]);
    }

    public static ulong Decode(ReadOnlySpan<byte> payload)
    {
        if (!QuicVarint.TryRead(payload, out ulong id, out int n) || n != payload.Length) throw Http3Errors.Frame("malformed GOAWAY");
        return id;
    }
}
