using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Http3;

// RFC 9114 §7.1
//   HTTP/3 Frame Format {
//     Type (i),
//     Length (i),
//     Frame Payload (..),
//   }

/// <summary>Frame header reading (transactional) and frame writing helpers.</summary>
internal static class Http3Frame
{
    /// <summary>Reads type and length; false (nothing consumed) when the header is incomplete.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> data, out ulong type, out ulong length, out int headerLength)
    {
        length = 0;
        headerLength = 0;
        if (!QuicVarint.TryRead(data, out type, out int a)) return false;
        if (!QuicVarint.TryRead(data[a..], out length, out int b)) return false;
        headerLength = a + b;
        return true;
    }

    /// <summary>Appends a varint to a list.</summary>
    public static void WriteVarint(List<byte> o, ulong v)
    {
        Span<byte> tmp = stackalloc byte[8];
        int n = QuicVarint.TryWrite(tmp, v);
        if (n == 0) throw new ArgumentOutOfRangeException(nameof(v));
        for (int i = 0; i < n; i++) o.Add(tmp[i]);
    }

    /// <summary>Encodes one frame.</summary>
    public static byte[] Encode(ulong type, ReadOnlySpan<byte> payload)
    {
        var o = new List<byte>(payload.Length + 16);
        WriteVarint(o, type);
        WriteVarint(o, (ulong)payload.Length);
        foreach (byte b in payload) o.Add(b);
        return [.. o];
    }

    /// <summary>Encodes only a frame header (for DATA frames whose payload is written separately).</summary>
    public static byte[] EncodeHeader(ulong type, ulong length)
    {
        var o = new List<byte>(16);
        WriteVarint(o, type);
        WriteVarint(o, length);
        return [.. o];
    }
}
