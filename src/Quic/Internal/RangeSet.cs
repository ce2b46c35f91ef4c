namespace OspBridge.Quic.Internal;

/// <summary>Half-open range [Start, End).</summary>
internal readonly record struct ULongRange(ulong Start, ulong End)
{
    public ulong Length => End - Start;
}

/// <summary>
/// Sorted, merged set of disjoint half-open ranges (received packet numbers for ACKs, received/acknowledged
/// stream offsets). Backed by a growable array; <see cref="MaxRanges"/> bounds memory: when exceeded the
/// lowest ranges are dropped (ACK use) — callers that cannot drop information check <see cref="Count"/> first.
/// </summary>
internal sealed class RangeSet
{
    private ULongRange[] _items = new ULongRange[8];
    private int _count;

    public RangeSet(int maxRanges = 256) => MaxRanges = maxRanges;

    public int MaxRanges { get; }
    public int Count => _count;
    public ULongRange this[int index] => _items[index];
    public bool IsEmpty => _count == 0;
    public ulong Min => _items[0].Start;
    public ulong Max => _items[_count - 1].End; // exclusive

    public void Clear() => _count = 0;

    /// <summary>True when every value of [start, end) is in the set.</summary>
    public bool Contains(ulong start, ulong end)
    {
        int i = FindFirstEndingAfter(start);
        return i < _count && _items[i].Start <= start && _items[i].End >= end;
    }

    public bool Contains(ulong value) => Contains(value, value + 1);

    /// <summary>Index of the first range whose End &gt; value.</summary>
    private int FindFirstEndingAfter(ulong value)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_items[mid].End > value) hi = mid; else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>Adds [start, end); returns true if anything new was added.</summary>
    public bool Add(ulong start, ulong end)
    {
        if (end <= start) return false;
        // fast path: append at the end
        if (_count > 0)
        {
            ref var last = ref _items[_count - 1];
            if (start >= last.Start && start <= last.End)
            {
                if (end <= last.End) return false;
                last = new ULongRange(last.Start, end);
                return true;
            }
        }
        int i = 0;
        // first range with End >= start (touching or overlapping)
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_items[mid].End >= start) hi = mid; else lo = mid + 1;
        }
        i = lo;
        int j = i;
        ulong ns = start, ne = end;
        while (j < _count && _items[j].Start <= end)
        {
            ns = Math.Min(ns, _items[j].Start);
            ne = Math.Max(ne, _items[j].End);
            j++;
        }
        if (j - i == 1 && _items[i].Start == ns && _items[i].End == ne) return false;
        int removed = j - i;
        if (removed == 0)
        {
            if (_count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
            Array.Copy(_items, i, _items, i + 1, _count - i);
            _items[i] = new ULongRange(ns, ne);
            _count++;
        }
        else
        {
            _items[i] = new ULongRange(ns, ne);
            if (removed > 1)
            {
                Array.Copy(_items, j, _items, i + 1, _count - j);
                _count -= removed - 1;
            }
        }
        if (_count > MaxRanges) RemoveAt(0);
        return true;
    }

    /// <summary>Removes [start, end) from the set.</summary>
    public void Remove(ulong start, ulong end)
    {
        if (end <= start) return;
        for (int i = FindFirstEndingAfter(start); i < _count && _items[i].Start < end;)
        {
            var r = _items[i];
            if (r.Start < start && r.End > end)
            {
                _items[i] = new ULongRange(r.Start, start);
                if (_count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
                Array.Copy(_items, i + 1, _items, i + 2, _count - i - 1);
                _items[i + 1] = new ULongRange(end, r.End);
                _count++;
                return;
            }
            if (r.Start < start) { _items[i] = new ULongRange(r.Start, start); i++; continue; }
            if (r.End > end) { _items[i] = new ULongRange(end, r.End); return; }
            RemoveAt(i);
        }
    }

    /// <summary>Removes every value below <paramref name="value"/>.</summary>
    public void RemoveBelow(ulong value)
    {
        if (_count > 0 && _items[0].Start < value) Remove(_items[0].Start, value);
    }

    public void RemoveAt(int index)
    {
        Array.Copy(_items, index + 1, _items, index, _count - index - 1);
        _count--;
    }
}
