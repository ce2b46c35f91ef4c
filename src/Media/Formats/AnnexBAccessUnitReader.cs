namespace OspBridge.Media.Formats;

/// <summary>
/// Splits an H.264 Annex B byte stream that arrives in arbitrary pieces (a pipe) into access units (ITU-T H.264
/// §7.4.1.2.3): a new access unit starts, once the current one has a slice, at an access unit delimiter, SEI, SPS,
/// PPS or NAL types 14–18, or at a slice whose first_mb_in_slice is 0. With x264's <c>aud=1</c> every access unit
/// begins with a delimiter; without it the slice rule still finds the boundaries.
/// </summary>
/// <remarks>
/// Transactional: <see cref="TryRead"/> returns false and keeps the bytes until the next access unit's first NAL unit
/// is seen (or <see cref="TryReadFinal"/> at end of stream). Memory is bounded: an access unit larger than the limit
/// is dropped (counted in <see cref="DroppedAccessUnits"/>) and reading resumes at the next boundary. Call
/// <see cref="TryRead"/> until it returns false after each <see cref="Write"/> (pipe-sized writes): then at most one
/// access unit plus one write is held. Not thread-safe.
/// </remarks>
public sealed class AnnexBAccessUnitReader
{
    /// <summary>Default largest access unit (octets).</summary>
    public const int DefaultMaxAccessUnitSize = 4 * 1024 * 1024;

    private readonly int _max;
    private byte[] _buffer = new byte[64 * 1024];
    private int _end;           // bytes held
    private int _auStart = -1;  // start of the access unit being collected (-1: before the first start code)
    private int _scan;          // next position to look for a start code
    private int _release;       // bytes handed out by the last TryRead, dropped at the next call
    private bool _hasSlice;
    private bool _keyframe;
    private bool _hasSps;
    private bool _hasPps;
    private bool _skipping;

    /// <summary>Creates a reader with a limit on access unit size.</summary>
    public AnnexBAccessUnitReader(int maxAccessUnitSize = DefaultMaxAccessUnitSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAccessUnitSize, 16);
        _max = maxAccessUnitSize;
    }

    /// <summary>Access units dropped because they exceeded the size limit.</summary>
    public long DroppedAccessUnits { get; private set; }

    /// <summary>Bytes currently buffered.</summary>
    public int BufferedBytes => _end - _release;

    /// <summary>Appends bytes of the stream.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        Compact();
        while (!data.IsEmpty)
        {
            int room = Math.Min(data.Length, _max + 8 - (_end - Math.Max(_auStart, 0)));
            if (room <= 0)
            {
                // The access unit in progress is over the limit: drop it and skip to the next boundary.
                if (!_skipping)
                    DroppedAccessUnits++;
                int keep = Math.Min(4, _end);
                _buffer.AsSpan(_end - keep, keep).CopyTo(_buffer);
                _end = keep;
                _scan = 0;
                _auStart = 0;
                _skipping = true;
                ResetFlags();
                continue;
            }
            EnsureCapacity(_end + room);
            data[..room].CopyTo(_buffer.AsSpan(_end));
            _end += room;
            data = data[room..];
        }
    }

    /// <summary>
    /// Returns the next complete access unit (Annex B, valid until the next call on this reader) when the start of
    /// the one after it has been seen.
    /// </summary>
    public bool TryRead(out ReadOnlySpan<byte> accessUnit, out AnnexBAccessUnitInfo info)
    {
        Compact();
        accessUnit = default;
        info = default;
        while (true)
        {
            int code = AnnexBNalUnits.FindStartCode(_buffer.AsSpan(0, _end), _scan, out int codeLength);
            if (code < 0)
            {
                _scan = Math.Max(_scan, _end - 2);
                if (_skipping)
                    _release = Math.Max(0, _scan - 2); // skipped bytes are not kept
                return false;
            }
            int header = code + codeLength;
            if (header + 1 >= _end)
            {
                _scan = code; // need the NAL header and the byte after it
                return false;
            }
            int type = _buffer[header] & 0x1F;
            bool firstSliceOfPicture = type is >= 1 and <= 5 && (_buffer[header + 1] & 0x80) != 0;
            bool candidate = type is H264NalType.Aud or H264NalType.Sei or H264NalType.Sps or H264NalType.Pps or (>= 14 and <= 18) || firstSliceOfPicture;
            int boundary = code > 0 && _buffer[code - 1] == 0 && code - 1 >= Math.Max(_auStart, 0) ? code - 1 : code;
            _scan = header;
            if (_auStart < 0 || (_skipping && candidate))
            {
                _auStart = boundary;
                _skipping = false;
                ResetFlags();
            }
            else if (_skipping)
            {
                _release = boundary;
                continue;
            }
            else if (_hasSlice && candidate)
            {
                int start = _auStart;
                info = new AnnexBAccessUnitInfo(_keyframe, _hasSps, _hasPps);
                accessUnit = _buffer.AsSpan(start, boundary - start);
                _auStart = boundary;
                _release = boundary;
                ResetFlags();
                Note(type);
                return true;
            }
            Note(type);
        }
    }

    /// <summary>At end of stream: returns the last access unit if it has a slice.</summary>
    public bool TryReadFinal(out ReadOnlySpan<byte> accessUnit, out AnnexBAccessUnitInfo info)
    {
        if (TryRead(out accessUnit, out info))
            return true;
        // Account for NAL units whose header arrived but were not scanned yet (TryRead stops before the last ones).
        var rest = _auStart < 0 ? default : _buffer.AsSpan(_auStart, _end - _auStart);
        bool keyframe = false, sps = false, pps = false, slice = false;
        foreach (var nal in new AnnexBNalUnits(rest))
        {
            int type = nal[0] & 0x1F;
            slice |= type is >= 1 and <= 5;
            keyframe |= type == H264NalType.Idr;
            sps |= type == H264NalType.Sps;
            pps |= type == H264NalType.Pps;
        }
        if (!slice || _skipping)
            return false;
        accessUnit = rest;
        info = new AnnexBAccessUnitInfo(keyframe, sps, pps);
        _release = _end;
        _auStart = -1;
        return true;
    }

    private void Note(int type)
    {
        if (type is >= 1 and <= 5)
            _hasSlice = true;
        _keyframe |= type == H264NalType.Idr;
        _hasSps |= type == H264NalType.Sps;
        _hasPps |= type == H264NalType.Pps;
    }

    private void ResetFlags()
    {
        _hasSlice = false;
        _keyframe = false;
        _hasSps = false;
        _hasPps = false;
    }

    private void Compact()
    {
        if (_release == 0)
            return;
        int shift = _release;
        _buffer.AsSpan(shift, _end - shift).CopyTo(_buffer);
        _end -= shift;
        _scan = Math.Max(0, _scan - shift);
        _auStart = _auStart < 0 ? -1 : Math.Max(0, _auStart - shift);
        _release = 0;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _buffer.Length)
            return;
        Array.Resize(ref _buffer, Math.Max(needed, Math.Min(_buffer.Length * 2, _max + 64)));
    }
}

/// <summary>What an access unit contains.</summary>
/// <param name="IsKeyframe">An IDR slice is present.</param>
/// <param name="HasSps">A sequence parameter set is present.</param>
/// <param name="HasPps">A picture parameter set is present.</param>
public readonly record struct AnnexBAccessUnitInfo(bool IsKeyframe, bool HasSps, bool HasPps);
