using System.Buffers;

namespace OspBridge.WebRtc;

/// <summary>
/// Where off-loop <see cref="RTCDataChannel"/> sends keep their copy of a message until the connection's loop hands it to
/// SCTP (which takes its own copy): messages are packed one after another into chunks of at least 64 KiB rented from
/// <see cref="ArrayPool{T}.Shared"/>; a chunk goes back to the pool when the last message in it was handed over. So a
/// steady stream of sends allocates nothing (issue 14): one rent per chunk instead of one per message — a rent per
/// message overran the shared pool's per-core stacks when hundreds of small messages waited for the loop (measured:
/// 4 701 of 22 370 1000-byte messages missed the pool) — and an idle connection holds no chunk. Thread-safe (any number of
/// senders, and the loop releasing).
/// <para>
/// While the connection is sending, up to <see cref="MaxSpareArrays"/> given-back 64 KiB arrays stay here for the next
/// chunks (issue 14, session 16): the senders rent on their threads and the loop gives back on its own, and the shared
/// pool's per-thread and per-core stores then missed now and then — 4–5 new 64 KiB arrays per 128–192 MiB sent
/// (<c>BufferAllocated(65536)</c> in <c>alloc webrtc … types</c>), the largest lumps left in the steady state. The owner
/// calls <see cref="TrimSpares"/> once nothing is buffered any more, so an idle connection still holds no chunk.
/// </para>
/// </summary>
internal sealed class SendStaging
{
    /// <summary>A rented array holding consecutive messages; <see cref="Live"/> of them are not handed over yet.</summary>
    internal sealed class Chunk
    {
        public byte[] Data = [];
        public int Used;
        public int Live;
    }

    /// <summary>The smallest chunk; a larger message gets a chunk of its own size (the pool rounds up to a power of two).</summary>
    public const int ChunkSize = 64 * 1024;
    private const int MaxSpareChunks = 32; // descriptors only (no arrays): 32 × 40 bytes

    /// <summary>Given-back arrays of <see cref="ChunkSize"/> kept for the next chunks while sending (256 KiB at most).</summary>
    internal const int MaxSpareArrays = 4;
    private readonly Stack<byte[]> _spareArrays = new(MaxSpareArrays);
    private int _spareArrayCount; // _spareArrays.Count, readable without the lock

    private readonly object _gate = new();
    private readonly Stack<Chunk> _spare = new();
    private Chunk? _current;

    private int _chunksOut;

    /// <summary>Chunks rented and not given back yet (tests).</summary>
    internal int ChunksOut => Volatile.Read(ref _chunksOut);

    /// <summary>Copies <paramref name="data"/> into the current chunk (or a new one); null for an empty message. Give it back with <see cref="Release"/>.</summary>
    public Chunk? Stage(ReadOnlySpan<byte> data, out int offset)
    {
        offset = 0;
        if (data.IsEmpty) return null;
        Chunk c;
        lock (_gate)
        {
            if (_current is { } cur && cur.Used + data.Length <= cur.Data.Length) c = cur;
            else
            {
                // The previous chunk (if any) is full for this message: it goes back with its last Release.
                c = _spare.TryPop(out var spare) ? spare : new Chunk();
                c.Data = data.Length <= ChunkSize && _spareArrays.TryPop(out var spareArray)
                    ? spareArray
                    : ArrayPool<byte>.Shared.Rent(Math.Max(ChunkSize, data.Length));
                _spareArrayCount = _spareArrays.Count;
                c.Used = 0;
                _chunksOut++;
                _current = c;
            }
            offset = c.Used;
            c.Used += data.Length;
            c.Live++;
        }
        // Outside the lock: this region is ours (reserved above), and the chunk cannot go back before we release it.
        data.CopyTo(c.Data.AsSpan(offset));
        return c;
    }

    /// <summary>Spare arrays held (tests).</summary>
    internal int SpareArrays => Volatile.Read(ref _spareArrayCount);

    /// <summary>Gives the spare arrays back to the shared pool (the connection has nothing buffered: it idles).</summary>
    public void TrimSpares()
    {
        if (Volatile.Read(ref _spareArrayCount) == 0) return;
        lock (_gate)
        {
            while (_spareArrays.TryPop(out var a)) ArrayPool<byte>.Shared.Return(a);
            _spareArrayCount = 0;
        }
    }

    /// <summary>The message staged in <paramref name="chunk"/> was handed over (or dropped): the chunk goes back to the pool with its last message.</summary>
    public void Release(Chunk? chunk)
    {
        if (chunk is null) return;
        lock (_gate)
        {
            if (--chunk.Live > 0) return;
            if (ReferenceEquals(chunk, _current)) _current = null;
            if (chunk.Data.Length == ChunkSize && _spareArrays.Count < MaxSpareArrays) _spareArrays.Push(chunk.Data);
            else ArrayPool<byte>.Shared.Return(chunk.Data);
            _spareArrayCount = _spareArrays.Count;
            chunk.Data = [];
            chunk.Used = 0;
            _chunksOut--;
            if (_spare.Count < MaxSpareChunks) _spare.Push(chunk);
        }
    }
}
