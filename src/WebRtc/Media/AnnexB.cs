namespace OspBridge.WebRtc.Media;

/// <summary>
/// Annex B byte streams (ITU-T H.264 / H.265 Annex B): NAL units each preceded by a start code 00 00 01 or
/// 00 00 00 01. Splitting is allocation-free: <see cref="TryReadNalUnit"/> returns offsets, <see cref="NalUnits"/>
/// enumerates spans. Bytes before the first start code are skipped; trailing zero octets of a NAL unit
/// (trailing_zero_8bits, or the leading zero of a following 4-byte start code) are not part of it; empty NAL units
/// are skipped. A buffer without any start code holds no NAL units.
/// </summary>
public static class AnnexB
{
    private static ReadOnlySpan<byte> ThreeByteStartCode => [0, 0, 1];

    /// <summary>
    /// Finds the next NAL unit at or after <paramref name="position"/> (an offset into <paramref name="data"/>, 0 to
    /// start). On success <paramref name="offset"/>/<paramref name="length"/> locate the NAL unit (header included, no
    /// start code) and <paramref name="position"/> moves past it. Linear time overall (vectorized search).
    /// </summary>
    public static bool TryReadNalUnit(ReadOnlySpan<byte> data, ref int position, out int offset, out int length)
    {
        offset = 0;
        length = 0;
        while ((uint)position < (uint)data.Length)
        {
            int sc = data.Slice(position).IndexOf(ThreeByteStartCode);
            if (sc < 0)
            {
                position = data.Length;
                return false;
            }
            int start = position + sc + 3;
            int next = start < data.Length ? data.Slice(start).IndexOf(ThreeByteStartCode) : -1;
            int end = next < 0 ? data.Length : start + next;
            position = end;
            while (end > start && data[end - 1] == 0)
                end--;
            if (end > start)
            {
                offset = start;
                length = end - start;
                return true;
            }
        }
        return false;
    }

    /// <summary>Enumerates the NAL units of <paramref name="data"/> (usable in <c>foreach</c>, allocation-free).</summary>
    public static NalUnitEnumerator NalUnits(ReadOnlySpan<byte> data) => new(data);

    /// <summary>Counts the NAL units of <paramref name="data"/>.</summary>
    public static int Count(ReadOnlySpan<byte> data)
    {
        int n = 0, position = 0;
        while (TryReadNalUnit(data, ref position, out _, out _))
            n++;
        return n;
    }

    /// <summary>Allocation-free enumerator over the NAL units of an Annex B buffer.</summary>
    public ref struct NalUnitEnumerator
    {
        private readonly ReadOnlySpan<byte> _data;
        private int _position;

        /// <summary>Enumerates <paramref name="data"/>.</summary>
        public NalUnitEnumerator(ReadOnlySpan<byte> data)
        {
            _data = data;
            _position = 0;
            Current = default;
        }

        /// <summary>The current NAL unit (header included, no start code).</summary>
        public ReadOnlySpan<byte> Current { get; private set; }

        /// <summary>Advances to the next NAL unit.</summary>
        public bool MoveNext()
        {
            if (!TryReadNalUnit(_data, ref _position, out int offset, out int length))
                return false;
            Current = _data.Slice(offset, length);
            return true;
        }

        /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
        public readonly NalUnitEnumerator GetEnumerator() => this;
    }
}
