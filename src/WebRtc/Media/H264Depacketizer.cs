namespace OspBridge.WebRtc.Media;

/// <summary>
/// Reassembles H.264 access units from RTP payloads (RFC 6184, packetization-mode 1: single NAL unit packets 1–23,
/// STAP-A 24, FU-A 28) into Annex B byte streams (00 00 00 01 before each NAL unit). An access unit ends at the marker
/// bit or at a timestamp change. A sequence gap drops the partial access unit (and the rest of it), so only complete
/// access units come out. Access units larger than <see cref="MaxAccessUnitSize"/> are dropped, so memory is bounded.
/// </summary>
/// <remarks>Feed packets in sequence order (after a jitter/NACK stage). Not thread-safe.</remarks>
public sealed class H264Depacketizer
{
    /// <summary>Largest access unit kept (octets of Annex B output).</summary>
    public const int MaxAccessUnitSize = 4 * 1024 * 1024;

    private static readonly byte[] StartCode = [0, 0, 0, 1];
    private byte[] _buffer = new byte[64 * 1024];
    private int _length;
    private bool _broken;
    private bool _dropCounted;
    private bool _inFragment;
    private bool _started;
    private ushort _lastSequence;
    private uint _timestamp;
    private bool _keyframe;
    private bool _hasSps;
    private bool _hasPps;

    /// <summary>Access units dropped because of loss, malformed payloads or size.</summary>
    public long DroppedAccessUnits { get; private set; }

    /// <summary>
    /// Adds one RTP payload. Returns true when an access unit completed; it is then in <paramref name="accessUnit"/>
    /// (valid until the next call) with its timestamp and whether it is a keyframe (contains an IDR slice).
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> payload, ushort sequenceNumber, uint timestamp, bool marker, out ReadOnlySpan<byte> accessUnit, out H264AccessUnitInfo info)
    {
        accessUnit = default;
        info = default;
        if (_started && (ushort)(_lastSequence + 1) != sequenceNumber)
        {
            // Loss: the unit in progress is incomplete; if the gap is inside the same timestamp, the rest of it is too.
            if (_length > 0 || _inFragment || timestamp == _timestamp)
                DroppedAccessUnits++;
            Reset(broken: timestamp == _timestamp);
        }
        else if (_started && timestamp != _timestamp)
        {
            // The previous unit never saw its marker bit (RFC 6184 §5.1): incomplete, dropped.
            if (_length > 0 || _inFragment)
                DroppedAccessUnits++;
            Reset(broken: false);
        }
        _started = true;
        _lastSequence = sequenceNumber;
        _timestamp = timestamp;
        if (!_broken)
            Process(payload);
        if (!marker)
            return false;
        bool ok = !_broken && !_inFragment && _length > 0;
        if (ok)
        {
            accessUnit = _buffer.AsSpan(0, _length);
            info = new H264AccessUnitInfo(timestamp, _keyframe, _hasSps && _hasPps);
        }
        else if (!_dropCounted)
        {
            DroppedAccessUnits++;
        }
        Reset(broken: false);
        return ok;
    }

    private void Reset(bool broken)
    {
        _length = 0;
        _inFragment = false;
        _keyframe = false;
        _hasSps = false;
        _hasPps = false;
        _broken = broken;
        _dropCounted = broken;
    }

    private void Process(ReadOnlySpan<byte> p)
    {
        if (p.IsEmpty || (p[0] & 0x80) != 0)
        {
            _broken = true; // forbidden_zero_bit set or empty
            return;
        }
        int type = p[0] & 0x1f;
        switch (type)
        {
            case >= 1 and <= 23:
                if (_inFragment)
                {
                    _broken = true;
                    return;
                }
                AppendNal(p);
                break;
            case 24: // STAP-A: [hdr] ([size16][nal])*
                {
                    if (_inFragment)
                    {
                        _broken = true;
                        return;
                    }
                    int at = 1;
                    while (at < p.Length && !_broken)
                    {
                        if (at + 2 > p.Length)
                        {
                            _broken = true;
                            return;
                        }
                        int size = (p[at] << 8) | p[at + 1];
                        at += 2;
                        if (size == 0 || at + size > p.Length)
                        {
                            _broken = true;
                            return;
                        }
                        AppendNal(p.Slice(at, size));
                        at += size;
                    }
                }
                break;
            case 28: // FU-A: [indicator][S E R type][fragment]
                {
                    if (p.Length < 3)
                    {
                        _broken = true;
                        return;
                    }
                    bool start = (p[1] & 0x80) != 0, end = (p[1] & 0x40) != 0;
                    if (start)
                    {
                        if (_inFragment)
                        {
                            _broken = true;
                            return;
                        }
                        byte header = (byte)((p[0] & 0xe0) | (p[1] & 0x1f));
                        if (!Append(StartCode) || !Append([header]))
                            return;
                        Note(header & 0x1f);
                        _inFragment = true;
                    }
                    else if (!_inFragment)
                    {
                        _broken = true; // continuation without a start
                        return;
                    }
                    if (!Append(p[2..]))
                        return;
                    if (end)
                        _inFragment = false;
                }
                break;
            default:
                _broken = true; // STAP-B, MTAP, FU-B: not in packetization-mode 1
                break;
        }
    }

    private void AppendNal(ReadOnlySpan<byte> nal)
    {
        if ((nal[0] & 0x80) != 0)
        {
            _broken = true;
            return;
        }
        Note(nal[0] & 0x1f);
        if (Append(StartCode))
            Append(nal);
    }

    private void Note(int nalType)
    {
        if (nalType == 5)
            _keyframe = true;
        else if (nalType == 7)
            _hasSps = true;
        else if (nalType == 8)
            _hasPps = true;
    }

    private bool Append(ReadOnlySpan<byte> data)
    {
        if (_length + data.Length > MaxAccessUnitSize)
        {
            _broken = true;
            return false;
        }
        if (_length + data.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Min(MaxAccessUnitSize, Math.Max(_buffer.Length * 2, _length + data.Length)));
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
        return true;
    }
}

/// <summary>Facts about a reassembled H.264 access unit.</summary>
/// <param name="Timestamp">RTP timestamp (90 kHz).</param>
/// <param name="IsKeyframe">Contains an IDR slice (NAL type 5).</param>
/// <param name="HasParameterSets">Carries both an SPS (7) and a PPS (8) in band.</param>
public readonly record struct H264AccessUnitInfo(uint Timestamp, bool IsKeyframe, bool HasParameterSets);
