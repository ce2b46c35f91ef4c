namespace OspBridge.Media.Formats;

/// <summary>
/// The fields of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) the media layer needs: profile, level and
/// the cropped picture size. Parsed without allocation; emulation prevention bytes (00 00 03) are skipped.
/// </summary>
/// <param name="ProfileIdc">profile_idc (66 baseline, 77 main, 100 high...).</param>
/// <param name="ConstraintFlags">The constraint_set flags octet.</param>
/// <param name="LevelIdc">level_idc (31 = level 3.1).</param>
/// <param name="Width">Luma width in pixels after cropping.</param>
/// <param name="Height">Luma height in pixels after cropping.</param>
public readonly record struct H264SpsInfo(int ProfileIdc, int ConstraintFlags, int LevelIdc, int Width, int Height)
{
    /// <summary>The RFC 6184 profile-level-id (hex of profile_idc, constraint flags, level_idc), e.g. "42c01f".</summary>
    public string ProfileLevelId => $"{ProfileIdc:x2}{ConstraintFlags:x2}{LevelIdc:x2}";

    /// <summary>Parses one SPS NAL unit (header byte included). False on truncated or out-of-range input.</summary>
    public static bool TryParse(ReadOnlySpan<byte> nalUnit, out H264SpsInfo info)
    {
        info = default;
        if (nalUnit.Length < 4 || (nalUnit[0] & 0x1F) != H264NalType.Sps)
            return false;
        var r = new RbspBitReader(nalUnit[1..]);
        if (!r.TryBits(8, out uint profile) || !r.TryBits(8, out uint constraints) || !r.TryBits(8, out uint level) || !r.TryUe(out _))
            return false;
        uint chromaFormat = 1;
        if (profile is 100 or 110 or 122 or 244 or 44 or 83 or 86 or 118 or 128 or 138 or 139 or 134 or 135)
        {
            if (!r.TryUe(out chromaFormat) || chromaFormat > 3)
                return false;
            if (chromaFormat == 3 && !r.TryBits(1, out _))
                return false;
            if (!r.TryUe(out _) || !r.TryUe(out _) || !r.TryBits(1, out _) || !r.TryBits(1, out uint scalingPresent))
                return false;
            if (scalingPresent == 1)
            {
                int lists = chromaFormat == 3 ? 12 : 8;
                for (int i = 0; i < lists; i++)
                {
                    if (!r.TryBits(1, out uint listPresent))
                        return false;
                    if (listPresent == 1 && !SkipScalingList(ref r, i < 6 ? 16 : 64))
                        return false;
                }
            }
        }
        if (!r.TryUe(out _) || !r.TryUe(out uint pocType) || pocType > 2)
            return false;
        if (pocType == 0)
        {
            if (!r.TryUe(out _))
                return false;
        }
        else if (pocType == 1)
        {
            if (!r.TryBits(1, out _) || !r.TrySe(out _) || !r.TrySe(out _) || !r.TryUe(out uint cycle) || cycle > 255)
                return false;
            for (int i = 0; i < cycle; i++)
            {
                if (!r.TrySe(out _))
                    return false;
            }
        }
        if (!r.TryUe(out _) || !r.TryBits(1, out _) || !r.TryUe(out uint widthMbs) || !r.TryUe(out uint heightMapUnits) || !r.TryBits(1, out uint frameMbsOnly))
            return false;
        if (widthMbs > 1023 || heightMapUnits > 1023)
            return false;
        if (frameMbsOnly == 0 && !r.TryBits(1, out _))
            return false;
        if (!r.TryBits(1, out _) || !r.TryBits(1, out uint cropping))
            return false;
        uint cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
        if (cropping == 1 && (!r.TryUe(out cropLeft) || !r.TryUe(out cropRight) || !r.TryUe(out cropTop) || !r.TryUe(out cropBottom)))
            return false;
        int cropUnitX = chromaFormat is 1 or 2 ? 2 : 1;
        int cropUnitY = (chromaFormat == 1 ? 2 : 1) * (2 - (int)frameMbsOnly);
        long width = (widthMbs + 1) * 16 - (long)cropUnitX * (cropLeft + cropRight);
        long height = (2 - frameMbsOnly) * (heightMapUnits + 1) * 16 - (long)cropUnitY * (cropTop + cropBottom);
        if (width <= 0 || height <= 0)
            return false;
        info = new H264SpsInfo((int)profile, (int)constraints, (int)level, (int)width, (int)height);
        return true;
    }

    private static bool SkipScalingList(ref RbspBitReader r, int size)
    {
        int last = 8, next = 8;
        for (int j = 0; j < size; j++)
        {
            if (next != 0)
            {
                if (!r.TrySe(out int delta))
                    return false;
                next = (last + delta + 256) % 256;
            }
            last = next == 0 ? last : next;
        }
        return true;
    }
}

/// <summary>Reads bits of an RBSP, skipping emulation prevention bytes (00 00 03 → 00 00).</summary>
internal ref struct RbspBitReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _byte;
    private int _bit;
    private int _zeros;
    private int _current = -1;

    public bool TryBits(int count, out uint value)
    {
        value = 0;
        for (int i = 0; i < count; i++)
        {
            if (!TryBit(out int b))
                return false;
            value = (value << 1) | (uint)b;
        }
        return true;
    }

    public bool TryUe(out uint value)
    {
        value = 0;
        int zeros = 0;
        while (true)
        {
            if (!TryBit(out int b))
                return false;
            if (b == 1)
                break;
            if (++zeros > 31)
                return false;
        }
        if (!TryBits(zeros, out uint rest))
            return false;
        value = (uint)((1UL << zeros) - 1 + rest);
        return true;
    }

    public bool TrySe(out int value)
    {
        value = 0;
        if (!TryUe(out uint k))
            return false;
        value = (k & 1) == 1 ? (int)((k + 1) / 2) : -(int)(k / 2);
        return true;
    }

    private bool TryBit(out int bit)
    {
        bit = 0;
        if (_current < 0 || _bit == 8)
        {
            if (_byte >= _data.Length)
                return false;
            int b = _data[_byte++];
            if (_zeros >= 2 && b == 3)
            {
                _zeros = 0;
                if (_byte >= _data.Length)
                    return false;
                b = _data[_byte++];
            }
            _zeros = b == 0 ? _zeros + 1 : 0;
            _current = b;
            _bit = 0;
        }
        bit = (_current >> (7 - _bit)) & 1;
        _bit++;
        return true;
    }
}
