using System.Buffers;
using System.Numerics;

namespace OspBridge.WebRtc.Sctp;

/// <summary>A user message being sent: a pooled copy of the bytes plus PR-SCTP policy. Recycled when done.</summary>
internal sealed class OutgoingMessage
{
    public byte[] Data = [];    // the bytes are Data[Start .. Start + Length]
    public int Start;
    public SendArena.Slab? Slab; // non-null: Data is a shared arena slab, else a rented array
    public int Length;
    public int Offset;          // next byte not yet given a TSN
    public ushort Stream;
    public ushort Ssn;
    public uint Ppid;
    public bool Unordered;
    public bool Abandoned;
    public int MaxRetransmits;  // -1 = unlimited
    public TimeSpan ExpiresAt;  // MaxValue = never
    public int References;      // in-flight chunks + 1 while still queued
    public bool Uncounted;      // control or empty message: not part of the stream's buffered amount

    public bool FullySent => Offset >= Length;

    /// <summary>Bytes <paramref name="offset"/> .. +<paramref name="length"/> of the message.</summary>
    public ReadOnlySpan<byte> Bytes(int offset, int length) => Data.AsSpan(Start + offset, length);
}

/// <summary>
/// The association's own byte-array pool (power-of-two size classes from 256 B): unlike <see cref="ArrayPool{T}.Shared"/>,
/// whose buckets overflow when thousands of fragments or messages are outstanding, it keeps every returned array while
/// the association is busy — at most what its send buffer and receive window held at their peak — and gives the
/// surplus back in <see cref="Trim"/> when the association idles. Single-threaded, like the association.
/// </summary>
internal sealed class SctpBytePool
{
    private const int MinClass = 8; // 256 B
    private readonly Stack<byte[]>?[] _free = new Stack<byte[]>?[31];
    private long _freeBytes;

    /// <summary>Bytes held idle in the pool.</summary>
    public long FreeBytes => _freeBytes;

    /// <summary>An array of at least <paramref name="length"/> bytes (a power of two, at least 256).</summary>
    public byte[] Rent(int length)
    {
        int c = length <= 1 << MinClass ? MinClass : 32 - BitOperations.LeadingZeroCount((uint)length - 1);
        if (_free[c] is { Count: > 0 } s)
        {
            var a = s.Pop();
            _freeBytes -= a.Length;
            return a;
        }
        return new byte[1 << c];
    }

    /// <summary>Takes back an array from <see cref="Rent"/>.</summary>
    public void Return(byte[] array)
    {
        (_free[BitOperations.Log2((uint)array.Length)] ??= new Stack<byte[]>()).Push(array);
        _freeBytes += array.Length;
    }

    /// <summary>Drops idle arrays, largest first, until at most <paramref name="keepBytes"/> stay.</summary>
    public void Trim(long keepBytes)
    {
        for (int c = _free.Length - 1; c >= MinClass && _freeBytes > keepBytes; c--)
        {
            if (_free[c] is not { } s)
            {
                continue;
            }
            while (s.Count > 0 && _freeBytes > keepBytes)
            {
                _freeBytes -= s.Pop().Length;
            }
            s.TrimExcess();
        }
    }
}

/// <summary>
/// Storage for queued user messages, so that queueing allocates nothing in steady state: small messages are packed
/// into 64 KiB slabs (freed when their last message is acknowledged or abandoned, then reused), large ones use the
/// association's <see cref="SctpBytePool"/>; message descriptors are recycled.
/// </summary>
internal sealed class SendArena(SctpBytePool bytes)
{
    internal sealed class Slab
    {
        public readonly byte[] Bytes = new byte[SlabSize];
        public int Used;
        public int References;
    }

    public const int SlabSize = 64 * 1024;
    public const int SmallLimit = 4096;
    // While data is queued every freed slab and descriptor is kept (at most what the send buffer held at its peak), so a
    // sustained transfer recycles instead of allocating; when the association idles (heartbeat timer with nothing queued)
    // Trim() keeps only these many.
    private const int IdleSlabs = 16;           // 1 MiB
    private const int IdleMessages = 1024;

    private readonly Stack<Slab> _freeSlabs = new();
    private readonly Stack<OutgoingMessage> _freeMessages = new();
    private Slab? _current;

    /// <summary>A descriptor holding a copy of <paramref name="payload"/> (References = 1; other fields are the caller's).</summary>
    public OutgoingMessage Rent(ReadOnlySpan<byte> payload)
    {
        var m = _freeMessages.Count > 0 ? _freeMessages.Pop() : new OutgoingMessage();
        if (payload.Length <= SmallLimit)
        {
            if (_current is null || _current.Used + payload.Length > SlabSize)
            {
                var old = _current;
                _current = _freeSlabs.Count > 0 ? _freeSlabs.Pop() : new Slab();
                _current.Used = 0;
                _current.References = 1; // the arena's own hold while it is the current slab
                if (old is not null)
                {
                    ReleaseSlab(old);
                }
            }
            var slab = _current;
            m.Data = slab.Bytes;
            m.Start = slab.Used;
            m.Slab = slab;
            slab.Used += (payload.Length + 7) & ~7;
            slab.References++;
        }
        else
        {
            m.Data = bytes.Rent(payload.Length);
            m.Start = 0;
            m.Slab = null;
        }
        payload.CopyTo(m.Data.AsSpan(m.Start));
        m.Length = payload.Length;
        m.References = 1;
        return m;
    }

    /// <summary>Drops one reference; the last one returns the bytes and recycles the descriptor.</summary>
    public void Release(OutgoingMessage m)
    {
        if (--m.References != 0)
        {
            return;
        }
        if (m.Slab is { } slab)
        {
            ReleaseSlab(slab);
        }
        else
        {
            bytes.Return(m.Data);
        }
        m.Data = [];
        m.Slab = null;
        _freeMessages.Push(m);
    }

    /// <summary>Called when nothing has been queued or in flight for a while: gives back what a burst left idle.</summary>
    public void Trim()
    {
        if (_freeSlabs.Count > IdleSlabs)
        {
            while (_freeSlabs.Count > IdleSlabs)
            {
                _freeSlabs.Pop();
            }
            _freeSlabs.TrimExcess();
        }
        if (_freeMessages.Count > IdleMessages)
        {
            while (_freeMessages.Count > IdleMessages)
            {
                _freeMessages.Pop();
            }
            _freeMessages.TrimExcess();
        }
    }

    private void ReleaseSlab(Slab slab)
    {
        if (--slab.References == 0)
        {
            _freeSlabs.Push(slab);
        }
    }
}

/// <summary>One DATA chunk that has a TSN (sent at least once, or waiting for retransmission).</summary>
internal struct InflightChunk
{
    public OutgoingMessage Message;
    public int Offset;
    public int Length;
    public byte Flags;
    public ushort Ssn;
    public TimeSpan SentAt;
    public int TransmitCount;
    public int MissCount;
    public bool Acked;          // cumulatively or gap-acked
    public bool Abandoned;
    public bool NeedsRetransmit;
    public bool FastRetransmitted;
    public bool InFlight;       // counted in the flight size
}

/// <summary>A growable ring of <see cref="InflightChunk"/> indexed from the oldest unacknowledged TSN.</summary>
internal sealed class InflightRing
{
    private InflightChunk[] _items = new InflightChunk[256];
    private int _head;

    public int Count { get; private set; }

    public ref InflightChunk this[int index] => ref _items[(_head + index) & (_items.Length - 1)];

    public void Add(in InflightChunk item)
    {
        if (Count == _items.Length)
        {
            var bigger = new InflightChunk[_items.Length * 2];
            for (int i = 0; i < Count; i++)
            {
                bigger[i] = this[i];
            }
            _items = bigger;
            _head = 0;
        }
        _items[(_head + Count) & (_items.Length - 1)] = item;
        Count++;
    }

    public void RemoveFirst()
    {
        _items[_head] = default;
        _head = (_head + 1) & (_items.Length - 1);
        Count--;
    }
}
