using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

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
        int n = QuicVarint.Write(tmp, v);
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

/// <summary>
/// Collects an HTTP/3 frame header (type and length varints, at most 16 bytes) across any split of a stream's
/// input; shared by the control-stream and message readers.
/// </summary>
internal struct Http3FrameHeaderAccumulator
{
    private byte[]? _buffer;
    private int _length;

    /// <summary>True while part of a header has been kept (a stream that ends now ends inside a frame).</summary>
    public readonly bool IsPartial => _length > 0;

    /// <summary>
    /// Consumes header bytes from <paramref name="data"/>. True when a whole header was read (then
    /// <paramref name="data"/> starts at the payload); false when all of <paramref name="data"/> was kept for later.
    /// </summary>
    public bool TryRead(ref ReadOnlySpan<byte> data, out ulong type, out ulong length)
    {
        _buffer ??= new byte[16];
        int take = Math.Min(data.Length, _buffer.Length - _length);
        data[..take].CopyTo(_buffer.AsSpan(_length));
        if (!Http3Frame.TryReadHeader(_buffer.AsSpan(0, _length + take), out type, out length, out int headerLength))
        {
            _length += take;
            data = data[take..];
            return false;
        }
        data = data[(headerLength - _length)..];
        _length = 0;
        return true;
    }
}
