namespace OspBridge.WebRtc.Media;

/// <summary>
/// The reassembly shared by <see cref="H264Depacketizer"/> and <see cref="H265Depacketizer"/>: NAL units from single,
/// aggregation and fragmentation packets are appended as Annex B (00 00 00 01 before each); an access unit ends at
/// the marker bit or at a timestamp change. A sequence gap drops the partial access unit (and the rest of it), so only
/// complete access units come out. Access units larger than <see cref="MaxAccessUnitSize"/> are dropped, so memory
/// is bounded.
/// </summary>
/// <remarks>Feed packets in sequence order (after a jitter/NACK stage). Not thread-safe.</remarks>
public abstract class NalUnitDepacketizer : IRtpDepacketizer
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
    private int _parameterSets;

    /// <inheritdoc/>
    public abstract MediaCodec Codec { get; }

    /// <summary>Access units dropped because of loss, malformed payloads or size.</summary>
    public long DroppedAccessUnits { get; private set; }

    /// <inheritdoc/>
    public long DroppedFrames => DroppedAccessUnits;

    /// <summary>Bit mask of the parameter-set kinds an access unit must carry for <see cref="MediaFrameInfo.HasParameterSets"/>.</summary>
    private protected abstract int AllParameterSets { get; }

    /// <summary>Length of the NAL unit header.</summary>
    private protected abstract int NalHeaderLength { get; }

    /// <summary>True when the payload's units are in a fragmentation unit that has not ended.</summary>
    private protected bool InFragment => _inFragment;

    /// <summary>
    /// Adds one RTP payload. Returns true when an access unit completed; it is then in <paramref name="frame"/>
    /// (valid until the next call) with its timestamp and whether it is a keyframe.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> payload, ushort sequenceNumber, uint timestamp, bool marker, out ReadOnlySpan<byte> frame, out MediaFrameInfo info)
    {
        frame = default;
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
            // The previous unit never saw its marker bit (RFC 6184 §5.1, RFC 7798 §4.1): incomplete, dropped.
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
            frame = _buffer.AsSpan(0, _length);
            info = new MediaFrameInfo(timestamp, _keyframe, (_parameterSets & AllParameterSets) == AllParameterSets);
        }
        else if (!_dropCounted)
        {
            DroppedAccessUnits++;
        }
        Reset(broken: false);
        return ok;
    }

    /// <summary>Handles one payload by calling the helpers below.</summary>
    private protected abstract void Process(ReadOnlySpan<byte> payload);

    /// <summary>Classifies a NAL unit header: whether it is a keyframe slice and which parameter-set bit it sets (0 for none).</summary>
    private protected abstract (bool Keyframe, int ParameterSet) Classify(ReadOnlySpan<byte> nalHeader);

    /// <summary>Marks the access unit in progress as broken (dropped at its end).</summary>
    private protected void Break() => _broken = true;

    /// <summary>Appends one whole NAL unit.</summary>
    private protected void AppendNal(ReadOnlySpan<byte> nal)
    {
        if (_inFragment || nal.Length < NalHeaderLength || (nal[0] & 0x80) != 0)
        {
            _broken = true;
            return;
        }
        Note(nal);
        if (Append(StartCode))
            Append(nal);
    }

    /// <summary>Appends the aggregated units of an aggregation packet body (16-bit size + unit, repeated).</summary>
    private protected void AppendAggregated(ReadOnlySpan<byte> body)
    {
        int at = 0;
        while (at < body.Length && !_broken)
        {
            if (at + 2 > body.Length)
            {
                _broken = true;
                return;
            }
            int size = (body[at] << 8) | body[at + 1];
            at += 2;
            if (size == 0 || at + size > body.Length)
            {
                _broken = true;
                return;
            }
            AppendNal(body.Slice(at, size));
            at += size;
        }
    }

    /// <summary>Appends one fragment; <paramref name="header"/> is the reconstructed NAL unit header (used at the start).</summary>
    private protected void AppendFragment(ReadOnlySpan<byte> header, ReadOnlySpan<byte> fragment, bool start, bool end)
    {
        if (start)
        {
            if (_inFragment || (header[0] & 0x80) != 0)
            {
                _broken = true;
                return;
            }
            if (!Append(StartCode) || !Append(header))
                return;
            Note(header);
            _inFragment = true;
        }
        else if (!_inFragment)
        {
            _broken = true; // continuation without a start
            return;
        }
        if (!Append(fragment))
            return;
        if (end)
            _inFragment = false;
    }

    private void Reset(bool broken)
    {
        _length = 0;
        _inFragment = false;
        _keyframe = false;
        _parameterSets = 0;
        _broken = broken;
        _dropCounted = broken;
    }

    private void Note(ReadOnlySpan<byte> header)
    {
        var (key, ps) = Classify(header);
        _keyframe |= key;
        _parameterSets |= ps;
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
