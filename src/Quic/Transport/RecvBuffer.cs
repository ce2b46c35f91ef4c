using System.Buffers;
using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Transport;

/// <summary>
/// Reassembly buffer for one stream or CRYPTO stream: out-of-order data is written at its offset into a ring
/// that starts at <see cref="ReadOffset"/>; the application reads the contiguous prefix. Memory is bounded by the
/// caller's flow-control limit (data beyond <see cref="ReadOffset"/> + max capacity is rejected).
/// The ring comes from <see cref="ArrayPool{T}.Shared"/> when the first byte arrives (an idle or empty stream holds
/// none), doubles only when data needs the room, and goes back to the pool on <see cref="Release"/> (stream closed).
/// </summary>
internal sealed class RecvBuffer
{
    private byte[] _ring = [];
    private readonly int _maxCapacity;
    private readonly int _initialCapacity;
    private readonly RangeSet _received = new(4096);

    public RecvBuffer(int initialCapacity, int maxCapacity)
    {
        _maxCapacity = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(maxCapacity, 64));
        _initialCapacity = Math.Min(_maxCapacity, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(initialCapacity, 64)));
    }

    /// <summary>Bytes of ring currently held (0 before the first data and after <see cref="Release"/>).</summary>
    public int Capacity => _ring.Length;

    /// <summary>Returns the ring to the pool; the buffer must not be used for data afterwards (its stream is gone).</summary>
    public void Release()
    {
        var ring = _ring;
        _ring = [];
        _received.Clear();
        if (ring.Length > 0) RingPool.Return(ring);
    }

    public ulong ReadOffset { get; private set; }
    /// <summary>Highest offset received + 1.</summary>
    public ulong HighestReceived { get; private set; }
    public ulong? FinalSize { get; private set; }
    public bool IsFinished => FinalSize is ulong f && ReadOffset == f;

    public int Readable
    {
        get
        {
            if (_received.IsEmpty || _received[0].Start > ReadOffset) return 0;
            return (int)(_received[0].End - ReadOffset);
        }
    }

    /// <summary>Inserts data; false when it exceeds the buffer capacity or the range-count bound (caller: flow-control error).</summary>
    public bool Insert(ulong offset, ReadOnlySpan<byte> data)
    {
        ulong end = offset + (ulong)data.Length;
        if (end > HighestReceived) HighestReceived = end;
        if (end <= ReadOffset || data.IsEmpty) return true;
        if (offset < ReadOffset) { data = data[(int)(ReadOffset - offset)..]; offset = ReadOffset; }
        if (end - ReadOffset > (ulong)_maxCapacity) return false;
        int needed = (int)(end - ReadOffset);
        if (needed > _ring.Length) Grow(Math.Max(needed, _initialCapacity));
        int mask = _ring.Length - 1;
        int idx = (int)(offset & (ulong)mask);
        int first = Math.Min(data.Length, _ring.Length - idx);
        data[..first].CopyTo(_ring.AsSpan(idx));
        data[first..].CopyTo(_ring);
        _received.Add(offset, end);
        if (_received.Count >= _received.MaxRanges) return false;
        return true;
    }

    /// <summary>
    /// Where bytes [<paramref name="offset"/>, +<paramref name="length"/>) would go in the ring, for a caller that writes
    /// them there itself (decrypting straight into the ring) and then calls <see cref="CommitWritten"/>. Only for a range
    /// nothing buffered overlaps — at or past <see cref="ReadOffset"/>, past every byte received so far (in-order
    /// streaming) and within the capacity bound — so writing into it, even bytes that later fail authentication, never
    /// changes what a reader can see. Grows the ring if needed. The location stays valid until the next
    /// <see cref="Insert"/>, <see cref="CommitWritten"/> or <see cref="Release"/>.
    /// </summary>
    public bool TryLocateFree(ulong offset, int length, out byte[] ring, out int index, out int firstLength)
    {
        ring = [];
        index = firstLength = 0;
        ulong end = offset + (ulong)length;
        if (length <= 0 || offset < ReadOffset || end - ReadOffset > (ulong)_maxCapacity) return false;
        if (!_received.IsEmpty && _received[_received.Count - 1].End > offset) return false;
        int needed = (int)(end - ReadOffset);
        if (needed > _ring.Length) Grow(Math.Max(needed, _initialCapacity));
        ring = _ring;
        index = (int)(offset & (ulong)(ring.Length - 1));
        firstLength = Math.Min(length, ring.Length - index);
        return true;
    }

    /// <summary>
    /// Records bytes the caller already wrote into the ring at the place <see cref="TryLocateFree"/> gave: what
    /// <see cref="Insert"/> does after its copy. False as for <see cref="Insert"/> (caller: flow-control error).
    /// </summary>
    public bool CommitWritten(ulong offset, int length)
    {
        ulong end = offset + (ulong)length;
        if (end > HighestReceived) HighestReceived = end;
        if (end <= ReadOffset || length == 0) return true;
        _received.Add(offset, end);
        return _received.Count < _received.MaxRanges;
    }

    private void Grow(int needed)
    {
        if (_ring.Length == 0) { _ring = RingPool.Rent(needed); return; }
        int cap = _ring.Length;
        while (cap < needed) cap *= 2;
        var n = RingPool.Rent(cap);
        cap = n.Length;
        // copy everything that might be stored: [ReadOffset, ReadOffset + oldCap)
        int old = _ring.Length;
        int oldMask = old - 1, newMask = cap - 1;
        for (int i = 0; i < old;)
        {
            ulong off = ReadOffset + (ulong)i;
            int si = (int)(off & (ulong)oldMask), di = (int)(off & (ulong)newMask);
            int run = Math.Min(Math.Min(old - si, cap - di), old - i);
            _ring.AsSpan(si, run).CopyTo(n.AsSpan(di));
            i += run;
        }
        RingPool.Return(_ring);
        _ring = n;
    }

    public bool SetFinalSize(ulong size)
    {
        if (FinalSize is ulong f) return f == size;
        if (size < HighestReceived) return false;
        FinalSize = size;
        return true;
    }

    /// <summary>True when no byte at or past <see cref="ReadOffset"/> is buffered (in order or not).</summary>
    public bool IsEmpty => _received.IsEmpty;

    /// <summary>
    /// Consumes in-order bytes that the caller copied straight to the reader (<see cref="IsEmpty"/> must be true and the
    /// bytes start at <see cref="ReadOffset"/>): the ring is bypassed.
    /// </summary>
    public void ConsumeDirect(int n)
    {
        ReadOffset += (ulong)n;
        if (ReadOffset > HighestReceived) HighestReceived = ReadOffset;
    }

    /// <summary>Copies contiguous bytes into <paramref name="dest"/> and consumes them.</summary>
    public int Read(Span<byte> dest)
    {
        int n = Math.Min(dest.Length, Readable);
        if (n == 0) return 0;
        int mask = _ring.Length - 1;
        int idx = (int)(ReadOffset & (ulong)mask);
        int first = Math.Min(n, _ring.Length - idx);
        _ring.AsSpan(idx, first).CopyTo(dest);
        _ring.AsSpan(0, n - first).CopyTo(dest[first..]);
        ReadOffset += (ulong)n;
        _received.RemoveBelow(ReadOffset);
        return n;
    }

    /// <summary>Contiguous readable bytes without consuming (may be two segments when wrapped; returns the first).</summary>
    public ReadOnlySpan<byte> PeekContiguous()
    {
        int n = Readable;
        if (n == 0) return default;
        int mask = _ring.Length - 1;
        int idx = (int)(ReadOffset & (ulong)mask);
        return _ring.AsSpan(idx, Math.Min(n, _ring.Length - idx));
    }

    public void Skip(int n)
    {
        ReadOffset += (ulong)n;
        _received.RemoveBelow(ReadOffset);
    }
}
