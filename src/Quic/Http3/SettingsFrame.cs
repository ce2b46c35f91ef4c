using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Http3;

// RFC 9114 §7.2.4
//   SETTINGS Frame {
//     Type (i) = 0x04,
//     Length (i),
//     Setting (..) ...,     // Setting { Identifier (i), Value (i) }
//   }

/// <summary>SETTINGS frame encoding/decoding.</summary>
internal static class SettingsFrame
{
    public const ulong QpackMaxTableCapacity = 0x01;
    public const ulong MaxFieldSectionSize = 0x06;
    public const ulong QpackBlockedStreams = 0x07;
    public const ulong EnableConnectProtocol = 0x08;
    public const ulong H3Datagram = 0x33;
    public const int MaxSettings = 64;

    public static byte[] Encode(IEnumerable<(ulong Id, ulong Value)> settings)
    {
        var p = new List<byte>();
        foreach (var (id, v) in settings)
        {
            Http3Frame.WriteVarint(p, id);
            Http3Frame.WriteVarint(p, v);
        }
        return Http3Frame.Encode(Http3FrameType.Settings, [.. p]);
    }

    /// <summary>Parses a payload; duplicates and HTTP/2-only identifiers (0x02..0x05) are H3_SETTINGS_ERROR.</summary>
    public static Dictionary<ulong, ulong> Decode(ReadOnlySpan<byte> payload)
    {
        var d = new Dictionary<ulong, ulong>();
        while (!payload.IsEmpty)
        {
            if (!QuicVarint.TryRead(payload, out ulong id, out int a)) throw Http3Errors.Frame("truncated setting");
            if (!QuicVarint.TryRead(payload[a..], out ulong v, out int b)) throw Http3Errors.Frame("truncated setting");
            payload = payload[(a + b)..];
            if (id is >= 0x02 and <= 0x05) throw Http3Errors.Error(Http3ErrorCode.SettingsError, $"HTTP/2 setting 0x{id:x} in HTTP/3");
            if (!d.TryAdd(id, v)) throw Http3Errors.Error(Http3ErrorCode.SettingsError, $"duplicate setting 0x{id:x}");
            if (d.Count > MaxSettings) throw Http3Errors.Error(Http3ErrorCode.ExcessiveLoad, "too many settings");
        }
        return d;
    }
}
