namespace OspBridge.WebRtc.Rtp;

/// <summary>
/// Builds RTP header extension data (RFC 8285) into a caller's buffer: the one-byte form (ids 1–14, 1–16 octets)
/// unless <c>twoByte</c> is asked for (ids 1–255, 0–255 octets). <see cref="Finish"/> pads to a 4-octet multiple.
/// </summary>
public ref struct RtpExtensionWriter
{
    private readonly Span<byte> _buffer;
    private readonly bool _twoByte;
    private int _length;

    /// <summary>Starts an extension in <paramref name="buffer"/>.</summary>
    public RtpExtensionWriter(Span<byte> buffer, bool twoByte = false)
    {
        _buffer = buffer;
        _twoByte = twoByte;
        _length = 0;
    }

    /// <summary>The profile value to put in the header (0xBEDE or 0x1000).</summary>
    public readonly ushort Profile => _twoByte ? (ushort)0x1000 : RtpExtensionReader.OneByteProfile;

    /// <summary>Appends one element; false when the id or length is not allowed in this form or the buffer is full.</summary>
    public bool TryAdd(byte id, ReadOnlySpan<byte> value)
    {
        if (_twoByte)
        {
            if (id == 0 || value.Length > 255 || _length + 2 + value.Length > _buffer.Length)
                return false;
            _buffer[_length] = id;
            _buffer[_length + 1] = (byte)value.Length;
            value.CopyTo(_buffer.Slice(_length + 2));
            _length += 2 + value.Length;
            return true;
        }
        if (id is 0 or > 14 || value.Length is 0 or > 16 || _length + 1 + value.Length > _buffer.Length)
            return false;
        _buffer[_length] = (byte)((id << 4) | (value.Length - 1));
        value.CopyTo(_buffer.Slice(_length + 1));
        _length += 1 + value.Length;
        return true;
    }

    /// <summary>Pads with zero octets to a multiple of 4 and returns the data to pass to <see cref="RtpHeader.TryWrite(Span{byte}, ReadOnlySpan{uint}, ReadOnlySpan{byte}, out int)"/>; empty when nothing was added or padding does not fit.</summary>
    public ReadOnlySpan<byte> Finish()
    {
        int padded = (_length + 3) & ~3;
        if (padded > _buffer.Length)
            return default;
        _buffer[_length..padded].Clear();
        _length = padded;
        return _buffer[..padded];
    }
}
