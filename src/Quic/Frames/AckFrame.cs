using OspBridge.Quic.Internal;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Frames;

/// <summary>
/// ACK (RFC 9000 §19.3):
/// <code>
/// Type (i) = 0x02..0x03 | Largest Acknowledged (i) | ACK Delay (i) | ACK Range Count (i) | First ACK Range (i)
/// ACK Range (..) ...  = { Gap (i), ACK Range Length (i) } | [ECN Counts: ECT0 (i), ECT1 (i), ECN-CE (i)]
/// </code>
/// Ranges are kept as the raw encoded bytes and enumerated lazily, so reading allocates nothing.
/// </summary>
internal ref struct AckFrame
{
    /// <summary>Most ranges we accept in one frame (bounds processing time).</summary>
    public const int MaxRanges = 1024;

    public ulong LargestAcknowledged;
    public ulong AckDelay;
    public ulong RangeCount;
    public ulong FirstRange;
    public ReadOnlySpan<byte> RangeBytes;
    public bool HasEcn;
    public ulong Ect0, Ect1, Ce;

    /// <summary>Reads the frame body (after the type) and validates every range.</summary>
    public static bool TryRead(ref QuicReader r, bool ecn, out AckFrame f)
    {
        f = default;
        int start = r.Position;
        if (!r.TryReadVarint(out f.LargestAcknowledged) || !r.TryReadVarint(out f.AckDelay)
            || !r.TryReadVarint(out f.RangeCount) || !r.TryReadVarint(out f.FirstRange)
            || f.RangeCount > MaxRanges || f.FirstRange > f.LargestAcknowledged)
        { r.Rewind(start); return false; }
        var rest = r.RemainingSpan;
        int rangesStart = r.Position;
        ulong smallest = f.LargestAcknowledged - f.FirstRange;
        for (ulong i = 0; i < f.RangeCount; i++)
        {
            if (!r.TryReadVarint(out ulong gap) || !r.TryReadVarint(out ulong len)) { r.Rewind(start); return false; }
            // next largest = smallest - gap - 2 ; must be >= len
            if (smallest < gap + 2) { r.Rewind(start); return false; }
            ulong largest = smallest - gap - 2;
            if (len > largest) { r.Rewind(start); return false; }
            smallest = largest - len;
        }
        f.RangeBytes = rest[..(r.Position - rangesStart)];
        if (ecn)
        {
            f.HasEcn = true;
            if (!r.TryReadVarint(out f.Ect0) || !r.TryReadVarint(out f.Ect1) || !r.TryReadVarint(out f.Ce)) { r.Rewind(start); return false; }
        }
        return true;
    }

    public readonly RangeEnumerator GetRanges() => new(this);

    /// <summary>Enumerates acknowledged ranges [Start, End) from highest to lowest.</summary>
    public ref struct RangeEnumerator
    {
        private QuicReader _r;
        private ulong _remaining;
        private ulong _smallest;
        private bool _first;
        private readonly ulong _largest, _firstRange;

        public RangeEnumerator(AckFrame f)
        {
            _r = new QuicReader(f.RangeBytes);
            _remaining = f.RangeCount;
            _largest = f.LargestAcknowledged;
            _firstRange = f.FirstRange;
            _first = true;
            _smallest = 0;
            Current = default;
        }

        public ULongRange Current { get; private set; }

        public bool MoveNext()
        {
            if (_first)
            {
                _first = false;
                _smallest = _largest - _firstRange;
                Current = new ULongRange(_smallest, _largest + 1);
                return true;
            }
            if (_remaining == 0) return false;
            _remaining--;
            _r.TryReadVarint(out ulong gap);
            _r.TryReadVarint(out ulong len);
            ulong largest = _smallest - gap - 2;
            _smallest = largest - len;
            Current = new ULongRange(_smallest, largest + 1);
            return true;
        }

        public readonly RangeEnumerator GetEnumerator() => this;
    }

    /// <summary>
    /// Writes an ACK for the ranges in <paramref name="received"/> (highest first), including as many ranges as
    /// fit. Returns false if not even the first range fits.
    /// </summary>
    public static bool TryWrite(ref QuicWriter w, RangeSet received, ulong ackDelayEncoded, int maxRanges = 64, bool ecn = false, ulong ect0 = 0, ulong ect1 = 0, ulong ce = 0)
    {
        if (received.IsEmpty) return false;
        int start = w.Position;
        int top = received.Count - 1;
        var hi = received[top];
        ulong largest = hi.End - 1;
        int count = Math.Min(received.Count - 1, maxRanges);
        // Reserve: type, largest, delay, count (we may shrink count), first range
        if (!w.TryWriteByte((byte)(ecn ? FrameType.AckEcn : FrameType.Ack)) || !w.TryWriteVarint(largest)
            || !w.TryWriteVarint(ackDelayEncoded))
        { w.Rewind(start); return false; }
        int countPos = w.Position;
        // compute how many ranges fit: write with a 2-byte count (count <= 1024 fits in 2 bytes).
        if (w.Remaining < 2) { w.Rewind(start); return false; }
        w.Advance(2);
        if (!w.TryWriteVarint(hi.End - 1 - hi.Start)) { w.Rewind(start); return false; }
        int written = 0;
        ulong smallest = hi.Start;
        int ecnReserve = ecn ? 3 * 8 : 0;
        for (int i = top - 1; i >= 0 && written < count; i--)
        {
            var r = received[i];
            ulong gap = smallest - r.End - 1;
            ulong len = r.End - 1 - r.Start;
            int need = QuicVarint.GetEncodedLength(gap) + QuicVarint.GetEncodedLength(len);
            if (w.Remaining < need + ecnReserve) break;
            w.TryWriteVarint(gap);
            w.TryWriteVarint(len);
            smallest = r.Start;
            written++;
        }
        QuicVarint.WriteFixed(w.Buffer[countPos..], (ulong)written, 2);
        if (ecn && (!w.TryWriteVarint(ect0) || !w.TryWriteVarint(ect1) || !w.TryWriteVarint(ce))) { w.Rewind(start); return false; }
        return true;
    }
}
