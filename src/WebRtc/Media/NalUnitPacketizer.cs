namespace OspBridge.WebRtc.Media;

/// <summary>
/// The packetization shared by H.264 (RFC 6184 mode 1) and H.265 (RFC 7798): walks the NAL units of an Annex B
/// access unit with one unit of look-ahead and emits, per packet, either a single NAL unit, an aggregation packet of
/// consecutive NAL units that fit together (STAP-A / AP: header, then 16-bit size + NAL unit each), or — for a NAL
/// unit larger than the payload — fragmentation units of near-equal size (FU-A / FU). The marker bit is set on the
/// last packet of the access unit.
/// </summary>
public abstract class NalUnitPacketizer : RtpPacketizer
{
    private ReadOnlyMemory<byte> _frame;
    private int _max;
    private int _scan;
    private bool _peeked;
    private int _peekOffset, _peekLength;
    private int _fragNal, _fragOffset, _fragEnd, _fragChunk;
    private bool _fragFirst;

    /// <summary>Length of the NAL unit header (H.264 1, H.265 2).</summary>
    private protected abstract int NalHeaderLength { get; }

    /// <summary>Length of the fragmentation packet headers (H.264 FU indicator + FU header = 2, H.265 3).</summary>
    private protected abstract int FragmentHeaderLength { get; }

    /// <inheritdoc/>
    public override int MinimumPayloadSize => FragmentHeaderLength + 1;

    /// <summary>NAL units not sent (access unit delimiters, filler data).</summary>
    private protected abstract bool Skip(ReadOnlySpan<byte> nal);

    /// <summary>Writes the aggregation packet header for the NAL units in <paramref name="body"/> (sizes + units, after the header).</summary>
    private protected abstract void WriteAggregationHeader(Span<byte> header, ReadOnlySpan<byte> body);

    /// <summary>Writes the fragmentation headers for <paramref name="nal"/>.</summary>
    private protected abstract void WriteFragmentHeader(Span<byte> header, ReadOnlySpan<byte> nal, bool start, bool end);

    /// <inheritdoc/>
    public override bool TryWriteNext(Span<byte> destination, out int written, out bool marker)
    {
        written = 0;
        marker = false;
        ReadOnlySpan<byte> frame = _frame.Span;
        if (_fragEnd > 0)
            return WriteFragment(frame, destination, out written, out marker);
        if (!Peek(frame, out int offset, out int length))
            return false;
        _peeked = false;
        if (length > _max)
        {
            int headerLength = NalHeaderLength;
            int body = length - headerLength;
            int room = _max - FragmentHeaderLength;
            int count = (body + room - 1) / room;
            _fragChunk = (body + count - 1) / count;
            _fragOffset = offset + headerLength;
            _fragEnd = offset + length;
            _fragFirst = true;
            _fragNal = offset;
            return WriteFragment(frame, destination, out written, out marker);
        }
        int aggHeader = NalHeaderLength;
        if (Peek(frame, out int nextOffset, out int nextLength) && aggHeader + 2 + length + 2 + nextLength <= _max)
        {
            EnsureRoom(destination, aggHeader + 2 + length);
            int at = aggHeader;
            at = AppendSized(destination, at, frame.Slice(offset, length));
            do
            {
                _peeked = false;
                at = AppendSized(destination, at, frame.Slice(nextOffset, nextLength));
            }
            while (Peek(frame, out nextOffset, out nextLength) && at + 2 + nextLength <= _max);
            WriteAggregationHeader(destination[..aggHeader], destination[aggHeader..at]);
            written = at;
        }
        else
        {
            EnsureRoom(destination, length);
            frame.Slice(offset, length).CopyTo(destination);
            written = length;
        }
        marker = !Peek(frame, out _, out _);
        return true;
    }

    private bool WriteFragment(ReadOnlySpan<byte> frame, Span<byte> destination, out int written, out bool marker)
    {
        int n = Math.Min(_fragChunk, _fragEnd - _fragOffset);
        bool end = _fragOffset + n == _fragEnd;
        int h = FragmentHeaderLength;
        EnsureRoom(destination, h + n);
        WriteFragmentHeader(destination[..h], frame.Slice(_fragNal, NalHeaderLength), _fragFirst, end);
        frame.Slice(_fragOffset, n).CopyTo(destination.Slice(h));
        written = h + n;
        _fragOffset += n;
        _fragFirst = false;
        marker = false;
        if (end)
        {
            _fragEnd = 0;
            marker = !Peek(frame, out _, out _);
        }
        return true;
    }

    private static int AppendSized(Span<byte> destination, int at, ReadOnlySpan<byte> nal)
    {
        EnsureRoom(destination, at + 2 + nal.Length);
        destination[at] = (byte)(nal.Length >> 8);
        destination[at + 1] = (byte)nal.Length;
        nal.CopyTo(destination.Slice(at + 2));
        return at + 2 + nal.Length;
    }

    private static void EnsureRoom(Span<byte> destination, int needed)
    {
        if (destination.Length < needed)
            throw new ArgumentException("Destination is shorter than the payload.", nameof(destination));
    }

    private bool Peek(ReadOnlySpan<byte> frame, out int offset, out int length)
    {
        if (!_peeked)
        {
            while (true)
            {
                if (!AnnexB.TryReadNalUnit(frame, ref _scan, out _peekOffset, out _peekLength))
                {
                    offset = length = 0;
                    return false;
                }
                if (_peekLength >= NalHeaderLength && !Skip(frame.Slice(_peekOffset, _peekLength)))
                    break;
            }
            _peeked = true;
        }
        offset = _peekOffset;
        length = _peekLength;
        return true;
    }

    private protected override bool OnBegin(ReadOnlyMemory<byte> frame, int maxPayload)
    {
        _frame = frame;
        _max = maxPayload;
        _scan = 0;
        _peeked = false;
        _fragEnd = 0;
        return maxPayload > 0;
    }
}
