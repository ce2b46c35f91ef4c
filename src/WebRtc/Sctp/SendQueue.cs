using System.Buffers;

namespace OspBridge.WebRtc.Sctp;

/// <summary>A user message being sent: a pooled copy of the bytes plus PR-SCTP policy. Recycled when done.</summary>
internal sealed class OutgoingMessage
{
    public byte[] Data = [];
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

    public void Release(Stack<OutgoingMessage> pool)
    {
        if (--References == 0)
        {
            ArrayPool<byte>.Shared.Return(Data);
            Data = [];
            if (pool.Count < 1024)
            {
                pool.Push(this);
            }
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
