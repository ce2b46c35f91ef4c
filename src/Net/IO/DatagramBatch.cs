using System.Buffers;
using OspBridge.Net.Core;

namespace OspBridge.Net.IO;

/// <summary>
/// A fixed set of datagram slots in one contiguous buffer, filled and drained without allocation: a
/// driver lets a core write straight into <see cref="NextSlot"/> and <see cref="Commit"/>s it, then hands
/// the whole batch to <see cref="IDatagramSender.Send(DatagramBatch)"/> (sendmmsg / UDP GSO where the
/// platform has them); a socket fills a batch in <see cref="IDatagramSocket.ReceiveAsync"/> (recvmmsg / GRO).
/// <para>The buffer is rented from <see cref="ArrayPool{T}.Shared"/> when a slot is first touched and can be given back
/// while the batch is empty (<see cref="ReleaseBuffer"/>): a socket or loop that waits for traffic holds no slots, so a
/// thousand idle connections do not keep a thousand batches (issue 13).</para>
/// <para>A socket that receives coalesced datagrams (UDP GRO) lends the batch the buffer it received into (an arena)
/// and adds the segments where they lie, without copying them into slots; such a batch may hold more datagrams than
/// <see cref="Capacity"/> (all segments of one coalesced receive), takes no further slot writes, and gives the
/// arena back to the pool when it is cleared.</para>
/// </summary>
public sealed class DatagramBatch
{
    /// <summary>Most datagrams an arena batch holds (the kernel coalesces at most 64 (GRO) or 128 (GSO) segments per receive).</summary>
    internal const int MaxArenaDatagrams = 4096;

    private byte[]? _buffer;
    private byte[]? _arena;
    private IArenaOwner? _arenaOwner;
    private readonly int _bytes;
    private int[] _lengths;
    private int[] _offsets;
    private DatagramPath[] _paths;

    /// <summary>Creates a batch of <paramref name="capacity"/> slots of <paramref name="slotSize"/> bytes each.</summary>
    public DatagramBatch(int capacity = 32, int slotSize = 2048)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slotSize, 65_535);
        Capacity = capacity;
        SlotSize = slotSize;
        // Not pinned: sockets pin it with `fixed` (or a MemoryHandle) only for the duration of a call. Pinned-heap arrays
        // (one send batch per connection loop, one receive batch per socket) are never compacted, and after a flood of
        // short-lived handshakes their holes stayed resident (issue 9: +9.4 MiB of pinned-heap fragmentation).
        _bytes = capacity * slotSize;
        _lengths = new int[capacity];
        _offsets = new int[capacity];
        _paths = new DatagramPath[capacity];
    }

    /// <summary>True while the batch holds a buffer (slots rented on first use and given back by <see cref="ReleaseBuffer"/>, or a lent arena until <see cref="Clear"/>).</summary>
    public bool HasBuffer => _buffer is not null || _arena is not null;

    /// <summary>
    /// Gives the buffer back to the shared pool while the batch is empty (a no-op otherwise); the next slot access
    /// rents one again. For drivers that are about to wait: an idle socket or loop then holds no datagram slots.
    /// </summary>
    public void ReleaseBuffer()
    {
        if (Count != 0 || _buffer is not { } b) return;
        _buffer = null;
        ArrayPool<byte>.Shared.Return(b);
    }

    private byte[] Bytes => _buffer ??= ArrayPool<byte>.Shared.Rent(_bytes);

    /// <summary>Number of slots.</summary>
    public int Capacity { get; }

    /// <summary>Bytes per slot: the largest datagram the batch holds.</summary>
    public int SlotSize { get; }

    /// <summary>Slots in use.</summary>
    public int Count { get; private set; }

    /// <summary>True when every slot is in use (always, while the batch holds a lent arena).</summary>
    public bool IsFull => Count >= Capacity || _arena is not null;

    /// <summary>The whole backing buffer (slot <c>i</c> starts at <c>i * SlotSize</c>; it may be longer than the slots); for socket implementations.</summary>
    public byte[] Buffer => Bytes;

    /// <summary>The free slot to write the next datagram into (empty when <see cref="IsFull"/>).</summary>
    public Span<byte> NextSlot => IsFull ? [] : Bytes.AsSpan(Count * SlotSize, SlotSize);

    /// <summary>The free slot as memory (for asynchronous socket calls); empty when full.</summary>
    public Memory<byte> NextSlotMemory => IsFull ? Memory<byte>.Empty : Bytes.AsMemory(Count * SlotSize, SlotSize);

    /// <summary>Marks <see cref="NextSlot"/> as holding a datagram of <paramref name="length"/> bytes for <paramref name="path"/>.</summary>
    public void Commit(int length, DatagramPath path)
    {
        if (IsFull) throw new InvalidOperationException("batch is full");
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, SlotSize);
        _lengths[Count] = length;
        _offsets[Count] = Count * SlotSize;
        _paths[Count] = path;
        Count++;
    }

    /// <summary>
    /// Sockets: the batch (empty) takes <paramref name="arena"/>, rented from <see cref="ArrayPool{T}.Shared"/>, which
    /// holds received datagrams at arbitrary offsets (<see cref="CommitInArena"/>); it goes back to
    /// <paramref name="owner"/> (the socket's free list) or else the pool on <see cref="Clear"/>.
    /// </summary>
    internal void AdoptArena(byte[] arena, IArenaOwner? owner = null)
    {
        if (Count != 0 || _arena is not null) throw new InvalidOperationException("an arena goes into an empty batch");
        _arena = arena;
        _arenaOwner = owner;
    }

    /// <summary>
    /// Sockets: adds the datagram of <paramref name="length"/> bytes at <paramref name="offset"/> of the lent arena, in
    /// place; the entry arrays grow past <see cref="Capacity"/> when needed (up to <see cref="MaxArenaDatagrams"/>).
    /// False when the batch holds that many already (the datagram is not added).
    /// </summary>
    internal bool CommitInArena(int offset, int length, DatagramPath path)
    {
        var arena = _arena ?? throw new InvalidOperationException("no arena");
        if ((uint)offset > (uint)arena.Length || (uint)length > (uint)(arena.Length - offset)) throw new ArgumentOutOfRangeException(nameof(length));
        if (Count == _lengths.Length)
        {
            if (Count >= MaxArenaDatagrams) return false;
            int grown = Math.Min(MaxArenaDatagrams, Count * 2);
            Array.Resize(ref _lengths, grown);
            Array.Resize(ref _offsets, grown);
            Array.Resize(ref _paths, grown);
        }
        _lengths[Count] = length;
        _offsets[Count] = offset;
        _paths[Count] = path;
        Count++;
        return true;
    }

    /// <summary>True while the datagrams lie in a lent arena rather than in the slots.</summary>
    internal bool HoldsArena => _arena is not null;

    /// <summary>The array the datagrams lie in: the arena when one is lent, else the slot buffer (<see cref="OffsetAt"/> gives each start).</summary>
    internal byte[] Storage => _arena ?? Bytes;

    /// <summary>Where datagram <paramref name="index"/> starts in <see cref="Storage"/>.</summary>
    internal int OffsetAt(int index) => _offsets[index];

    /// <summary>Copies a datagram into the next slot; false when the batch is full or the datagram too large.</summary>
    public bool TryAdd(ReadOnlySpan<byte> datagram, DatagramPath path)
    {
        if (IsFull || datagram.Length > SlotSize) return false;
        datagram.CopyTo(NextSlot);
        Commit(datagram.Length, path);
        return true;
    }

    /// <summary>The bytes of datagram <paramref name="index"/>.</summary>
    public Span<byte> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return (_arena ?? Bytes).AsSpan(_offsets[index], _lengths[index]);
        }
    }

    /// <summary>The length of datagram <paramref name="index"/>.</summary>
    public int LengthAt(int index) => _lengths[index];

    /// <summary>The path of datagram <paramref name="index"/>.</summary>
    public DatagramPath PathAt(int index) => _paths[index];

    /// <summary>Empties the batch (a lent arena goes back to its owner or the shared pool).</summary>
    public void Clear()
    {
        Count = 0;
        if (_arena is { } arena)
        {
            _arena = null;
            var owner = _arenaOwner;
            _arenaOwner = null;
            if (owner is not null) owner.ReturnArena(arena);
            else ArrayPool<byte>.Shared.Return(arena);
        }
    }
}
