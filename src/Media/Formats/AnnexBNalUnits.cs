namespace OspBridge.Media.Formats;

/// <summary>
/// Iterates the NAL units of an Annex B byte stream (ITU-T H.264 Annex B): each NAL unit is preceded by a start code
/// 00 00 01 (or 00 00 00 01); bytes before the first start code are ignored; trailing zero bytes of a NAL unit (the
/// leading zero of a 4-byte start code) are not part of it. Allocates nothing.
/// </summary>
public ref struct AnnexBNalUnits
{
    private readonly ReadOnlySpan<byte> _data;
    private int _next;

    /// <summary>Starts iterating <paramref name="data"/>.</summary>
    public AnnexBNalUnits(ReadOnlySpan<byte> data)
    {
        _data = data;
        _next = FindStartCode(data, 0, out int codeLength);
        if (_next >= 0)
            _next += codeLength;
        Current = default;
    }

    /// <summary>The current NAL unit (header byte first, emulation prevention bytes still in).</summary>
    public ReadOnlySpan<byte> Current { get; private set; }

    /// <summary>For <c>foreach</c>.</summary>
    public readonly AnnexBNalUnits GetEnumerator() => this;

    /// <summary>Moves to the next non-empty NAL unit.</summary>
    public bool MoveNext()
    {
        while (_next >= 0 && _next < _data.Length)
        {
            int begin = _next;
            int code = FindStartCode(_data, begin, out int codeLength);
            int end;
            if (code < 0)
            {
                end = _data.Length;
                _next = -1;
            }
            else
            {
                end = code;
                _next = code + codeLength;
            }
            while (end > begin && _data[end - 1] == 0)
                end--;
            if (end > begin)
            {
                Current = _data[begin..end];
                return true;
            }
        }
        Current = default;
        return false;
    }

    /// <summary>
    /// The index of the next 00 00 01 at or after <paramref name="from"/>, or -1. <paramref name="codeLength"/> is 3.
    /// </summary>
    internal static int FindStartCode(ReadOnlySpan<byte> data, int from, out int codeLength)
    {
        codeLength = 3;
        int i = from;
        while (i + 2 < data.Length)
        {
            int z = data[i..].IndexOf((byte)1);
            if (z < 0)
                return -1;
            int one = i + z;
            if (one >= 2 && one - 2 >= from && data[one - 1] == 0 && data[one - 2] == 0)
                return one - 2;
            i = one + 1;
        }
        return -1;
    }

    /// <summary>The nal_unit_type (low 5 bits of the header byte) of an H.264 NAL unit.</summary>
    public static int H264Type(ReadOnlySpan<byte> nalUnit) => nalUnit.IsEmpty ? -1 : nalUnit[0] & 0x1F;
}
