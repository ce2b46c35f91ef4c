namespace OspBridge.WebRtc.Rtp;

/// <summary>
/// Iterates the elements of an RTP header extension in the one-byte (profile 0xBEDE, RFC 8285 §4.2) or two-byte
/// (profile 0x100x, §4.3) form. Other profiles yield nothing. Padding octets (id 0) are skipped; in the one-byte
/// form id 15 stops processing. A malformed element (length past the end) ends iteration with
/// <see cref="IsMalformed"/> set.
/// <code>
/// one-byte:  | ID (4) | L (4) | data (L+1 octets) |     two-byte:  | ID (8) | L (8) | data (L octets) |
/// </code>
/// </summary>
public ref struct RtpExtensionReader
{
    /// <summary>Profile of the one-byte form.</summary>
    public const ushort OneByteProfile = 0xBEDE;

    private readonly ReadOnlySpan<byte> _data;
    private readonly int _form; // 0 none, 1 one-byte, 2 two-byte
    private int _at;

    /// <summary>Reads the extension data of a packet whose extension profile is <paramref name="profile"/>.</summary>
    public RtpExtensionReader(ushort profile, ReadOnlySpan<byte> data)
    {
        _data = data;
        _form = profile == OneByteProfile ? 1 : (profile & 0xfff0) == 0x1000 ? 2 : 0;
        _at = 0;
        IsMalformed = false;
    }

    /// <summary>True when iteration stopped at an element running past the end of the data.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next element; false at the end.</summary>
    public bool TryRead(out byte id, out ReadOnlySpan<byte> value)
    {
        id = 0;
        value = default;
        while (_form != 0 && _at < _data.Length)
        {
            byte b = _data[_at];
            if (b == 0)
            {
                _at++; // padding
                continue;
            }
            if (_form == 1)
            {
                id = (byte)(b >> 4);
                if (id == 15)
                {
                    _at = _data.Length;
                    return false;
                }
                int len = (b & 0x0f) + 1;
                if (_at + 1 + len > _data.Length)
                    return Malformed();
                value = _data.Slice(_at + 1, len);
                _at += 1 + len;
                return true;
            }
            if (_at + 2 > _data.Length)
                return Malformed();
            id = b;
            int l2 = _data[_at + 1];
            if (_at + 2 + l2 > _data.Length)
                return Malformed();
            value = _data.Slice(_at + 2, l2);
            _at += 2 + l2;
            return true;
        }
        return false;
    }

    private bool Malformed()
    {
        IsMalformed = true;
        _at = _data.Length;
        return false;
    }
}
