using System.Buffers;
using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Transport;

/// <summary>
/// Outgoing bytes of one stream (or one CRYPTO stream), kept until acknowledged. A ring buffer indexed by
/// stream offset holds [AckedPrefix, WriteEnd); lost ranges are queued for retransmission before new data.
/// The ring comes from <see cref="ArrayPool{T}.Shared"/> on the first write (sized to it, at least the initial
/// capacity), doubles only when unacknowledged data needs the room, and goes back to the pool on
/// <see cref="Release"/> (stream closed).
/// </summary>
internal sealed class SendBuffer
{
    private byte[] _ring = [];
    private readonly int _maxCapacity;
    private readonly int _initialCapacity;
    private readonly RangeSet _acked = new(int.MaxValue);
    private readonly RangeSet _lost = new(int.MaxValue);

    public SendBuffer(int initialCapacity, int maxCapacity)
    {
        _initialCapacity = RoundUp(Math.Min(initialCapacity, maxCapacity));
        _maxCapacity = RoundUp(maxCapacity);
    }

    /// <summary>Bytes of ring currently held (0 before the first write and after <see cref="Release"/>).</summary>
    public int Capacity => _ring.Length;

    /// <summary>Returns the ring to the pool; nothing may be sent from this buffer afterwards (its stream is gone).</summary>
    public void Release()
    {
        var ring = _ring;
        _ring = [];
        _lost.Clear();
        // A leased region may still be written by the application: that ring is left to the GC, never pooled.
        if (ring.Length > 0 && !IsLeased) RingPool.Return(ring);
        IsLeased = false;
    }

    /// <summary>True between <see cref="TryLease"/> and <see cref="CommitLease"/>/<see cref="CancelLease"/>.</summary>
    public bool IsLeased { get; private set; }

    /// <summary>
    /// Lends the free ring space at <see cref="WriteEnd"/> for the application to fill in place (its data then costs no
    /// copy into the ring): at most <paramref name="maxLength"/> bytes, contiguous (up to the ring's end), within
    /// <see cref="FreeSpace"/>. Until <see cref="CommitLease"/> or <see cref="CancelLease"/> the ring neither grows nor
    /// moves and nothing else is written; false when there is no free space (or the writes were completed).
    /// </summary>
    public bool TryLease(int maxLength, out byte[] ring, out int index, out int length)
    {
        ring = [];
        index = length = 0;
        if (FinWritten || IsLeased || maxLength <= 0) return false;
        int n = Math.Min(maxLength, FreeSpace);
        if (n <= 0) return false;
        EnsureCapacity((int)(WriteEnd - AckedPrefix) + n);
        ring = _ring;
        index = (int)(WriteEnd & (ulong)(ring.Length - 1));
        length = Math.Min(n, ring.Length - index);
        IsLeased = true;
        return true;
    }

    /// <summary>The application wrote <paramref name="count"/> bytes at the start of the leased region: they are stream data now.</summary>
    public void CommitLease(int count)
    {
        if (!IsLeased) throw new InvalidOperationException("no lease to commit");
        IsLeased = false;
        if (count < 0 || (ulong)count > (ulong)FreeSpace) throw new ArgumentOutOfRangeException(nameof(count));
        WriteEnd += (ulong)count;
    }

    /// <summary>Ends a lease without data.</summary>
    public void CancelLease() => IsLeased = false;

    private static int RoundUp(int v) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(v, 64));

    /// <summary>Everything below this offset is acknowledged and freed.</summary>
    public ulong AckedPrefix { get; private set; }
    /// <summary>End of the bytes the application wrote.</summary>
    public ulong WriteEnd { get; private set; }
    /// <summary>Highest offset sent at least once (new data starts here).</summary>
    public ulong SendEnd { get; private set; }
    public bool FinWritten { get; private set; }
    public bool FinSent { get; private set; }
    public bool FinAcked { get; private set; }
    private bool _finLost;

    public int FreeSpace => _maxCapacity - (int)(WriteEnd - AckedPrefix);
    public bool HasLost => !_lost.IsEmpty || _finLost;
    public bool HasNew => SendEnd < WriteEnd || (FinWritten && !FinSent);
    public bool HasPending => HasLost || HasNew;
    public bool AllAcked => FinWritten && FinAcked && AckedPrefix == WriteEnd;

    /// <summary>Copies as much of <paramref name="data"/> as fits; returns the count.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        if (IsLeased) throw new InvalidOperationException("the stream's send space is leased");
        if (FinWritten) return 0;
        int n = Math.Min(data.Length, FreeSpace);
        if (n <= 0) return 0;
        EnsureCapacity((int)(WriteEnd - AckedPrefix) + n);
        int mask = _ring.Length - 1;
        int idx = (int)(WriteEnd & (ulong)mask);
        int first = Math.Min(n, _ring.Length - idx);
        data[..first].CopyTo(_ring.AsSpan(idx));
        data[first..n].CopyTo(_ring);
        WriteEnd += (ulong)n;
        return n;
    }

    public void WriteFin() => FinWritten = true;

    private void EnsureCapacity(int needed)
    {
        if (needed <= _ring.Length) return;
        if (_ring.Length == 0) { _ring = RingPool.Rent(Math.Max(needed, _initialCapacity)); return; }
        int cap = _ring.Length;
        while (cap < needed) cap *= 2;
        var relaid = RingPool.Rent(cap);
        cap = relaid.Length;
        // copy [AckedPrefix, WriteEnd) to its offset-indexed positions in the new ring (at most two runs each side)
        int len = (int)(WriteEnd - AckedPrefix);
        int oldMask = _ring.Length - 1, newMask = cap - 1;
        for (int i = 0; i < len;)
        {
            ulong off = AckedPrefix + (ulong)i;
            int si = (int)(off & (ulong)oldMask), di = (int)(off & (ulong)newMask);
            int run = Math.Min(Math.Min(_ring.Length - si, cap - di), len - i);
            _ring.AsSpan(si, run).CopyTo(relaid.AsSpan(di));
            i += run;
        }
        RingPool.Return(_ring);
        _ring = relaid;
    }

    private static void CopyOut(ulong offset, Span<byte> dest, byte[] ring)
    {
        if (dest.IsEmpty) return;
        int mask = ring.Length - 1;
        int idx = (int)(offset & (ulong)mask);
        int first = Math.Min(dest.Length, ring.Length - idx);
        ring.AsSpan(idx, first).CopyTo(dest);
        ring.AsSpan(0, dest.Length - first).CopyTo(dest[first..]);
    }

    /// <summary>
    /// Where stored bytes [<paramref name="offset"/>, +<paramref name="length"/>) lie in the ring: from
    /// <paramref name="index"/> for <paramref name="firstLength"/> bytes, the rest (if the run wraps) from index 0. The
    /// ring stays valid until the next <see cref="Write"/> or <see cref="Release"/> (a send pass seals before either).
    /// </summary>
    public byte[] Locate(ulong offset, int length, out int index, out int firstLength)
    {
        var ring = _ring;
        index = (int)(offset & (ulong)(ring.Length - 1));
        firstLength = Math.Min(length, ring.Length - index);
        return ring;
    }

    /// <summary>Copies stored bytes starting at <paramref name="offset"/>.</summary>
    public void CopyTo(ulong offset, Span<byte> dest) => CopyOut(offset, dest, _ring);

    /// <summary>
    /// The offset the next <see cref="TryNextChunk"/> starts at (the first lost range, else new data): frame writers
    /// size the frame's Offset field with it before they ask for a chunk.
    /// </summary>
    public ulong NextChunkOffset => _lost.IsEmpty ? SendEnd : _lost[0].Start;

    /// <summary>
    /// Picks the next chunk to send, at most <paramref name="maxLength"/> bytes and (for new data) at most up to
    /// <paramref name="flowLimit"/>. Returns false when nothing is sendable. A chunk may be empty with Fin set.
    /// </summary>
    public bool TryNextChunk(int maxLength, ulong flowLimit, out ulong offset, out int length, out bool fin, out bool isNew)
    {
        isNew = false;
        if (!_lost.IsEmpty)
        {
            var r = _lost[0];
            offset = r.Start;
            length = (int)Math.Min(r.Length, (ulong)Math.Max(maxLength, 0));
            if (length == 0) { fin = false; return false; }
            _lost.Remove(offset, offset + (ulong)length);
            fin = FinWritten && offset + (ulong)length == WriteEnd && (_finLost || !FinSent);
            if (fin) { _finLost = false; FinSent = true; }
            return true;
        }
        if (_finLost && SendEnd == WriteEnd)
        {
            offset = WriteEnd; length = 0; fin = true; _finLost = false; FinSent = true;
            return true;
        }
        ulong end = Math.Min(WriteEnd, Math.Max(flowLimit, SendEnd));
        ulong avail = end - SendEnd;
        offset = SendEnd;
        length = (int)Math.Min(avail, (ulong)Math.Max(maxLength, 0));
        fin = FinWritten && !FinSent && SendEnd + (ulong)length == WriteEnd;
        if (length == 0 && !fin) return false;
        SendEnd += (ulong)length;
        if (fin) FinSent = true;
        isNew = true;
        return true;
    }

    public void OnAcked(ulong offset, int length, bool fin)
    {
        if (fin) FinAcked = true;
        if (length == 0) return;
        ulong end = offset + (ulong)length;
        if (end <= AckedPrefix) return;
        _acked.Add(Math.Max(offset, AckedPrefix), end);
        _lost.Remove(offset, end);
        if (!_acked.IsEmpty && _acked.Min <= AckedPrefix)
        {
            AckedPrefix = _acked[0].End;
            _acked.RemoveAt(0);
        }
    }

    public void OnLost(ulong offset, int length, bool fin)
    {
        if (fin && !FinAcked) _finLost = true;
        ulong start = Math.Max(offset, AckedPrefix), end = offset + (ulong)length;
        if (end <= start) return;
        // add minus already-acked ranges
        ulong cur = start;
        for (int i = 0; i < _acked.Count && cur < end; i++)
        {
            var a = _acked[i];
            if (a.End <= cur) continue;
            if (a.Start >= end) break;
            if (a.Start > cur) _lost.Add(cur, a.Start);
            cur = Math.Max(cur, a.End);
        }
        if (cur < end) _lost.Add(cur, end);
    }

    /// <summary>Drops everything (stream reset).</summary>
    public void Discard()
    {
        _lost.Clear();
        _acked.Clear();
        _finLost = false;
        AckedPrefix = WriteEnd;
        SendEnd = WriteEnd;
        FinWritten = true; FinSent = true; FinAcked = true;
    }
}
