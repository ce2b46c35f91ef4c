using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;
using OspBridge.Net.IO;

namespace OspBridge.Quic.Driver;

/// <summary>
/// One UDP socket shared by the connections on it: one receive task (<see cref="DatagramReceiver"/>)
/// hands every datagram to the connection it belongs to — by destination connection ID, or by the peer's
/// address for connections with zero-length CIDs — by posting it to that connection's loop; datagrams that
/// match nothing go to <see cref="OnUnrouted"/> (the listener's accept path). A client endpoint has exactly one
/// connection and skips the lookup. Sends go straight to the socket (safe from several loops at once). The socket
/// closes when the last user (listener or connection) releases it.
/// </summary>
internal sealed class QuicEndpoint
{
    private readonly IDatagramSocket _socket;
    private readonly ConcurrentDictionary<CidKey, QuicConnection> _byCid = new();
    private readonly ConcurrentDictionary<IPEndPoint, QuicConnection> _byAddress = new();
    private readonly int _shortHeaderCidLength;
    private readonly ILogger? _logger;
    private QuicConnection? _single;
    private Task _receiver = Task.CompletedTask;
    private int _refs = 1;

    /// <summary>Receive slot size: larger than any datagram we allow the peer to send (max_udp_payload_size).</summary>
    public const int ReceiveSlotSize = QuicConnectionOptions.MaxSupportedUdpPayloadSize;

    public QuicEndpoint(IDatagramSocket socket, int shortHeaderCidLength, ILogger? logger)
    {
        _socket = socket;
        _shortHeaderCidLength = shortHeaderCidLength;
        _logger = logger;
        LocalEndPoint = socket.LocalEndPoint;
    }

    public IPEndPoint LocalEndPoint { get; }

    public IDatagramSender Sender => _socket;

    /// <summary>The socket (benches read its counters).</summary>
    public IDatagramSocket Socket => _socket;

    /// <summary>Datagrams that match no connection (listener: new Initials, stateless resets).</summary>
    public DatagramReceiver.Dispatch? OnUnrouted { get; init; }

    /// <summary>Client mode: every datagram goes to <paramref name="connection"/>.</summary>
    public void StartSingle(QuicConnection connection)
    {
        _single = connection;
        Start();
    }

    public void Start() => _receiver = Task.Run(ReceiveLoopAsync); // ends when the socket is disposed

    // Copy-free hand-off: when every datagram of a received batch belongs to one connection (and there are enough
    // of them to be worth it), the batch itself goes to that connection's loop, which passes the datagrams to the
    // core in place and gives the batch back; the receive task carries on with a spare. Spares are allocated only
    // when a hand-off happens (an idle connection, receiving one datagram at a time, never gets one) and at most
    // MaxBatches exist per socket; without a spare the datagrams are copied to the loop one by one as before.
    // Issue 14 (session 17): a batch of fewer datagrams whose datagrams lie in a GRO arena goes whole too when they are
    // large (≥ LargeDatagram on average) — with 64 KiB datagrams most receives carry 1–3 of them (GRO cannot coalesce a
    // datagram that size), and a third of them were copied into the loop's 64 KiB buffers (which grew to new highs in the
    // steady state). The arena is shared by reference count with the socket's next receives (ArenaList), so a small
    // batch holds only its own 64 KiB regions — which is why a few small datagrams (ACKs: one region each, unless GRO
    // coalesced them) are still copied (into the loop's 256-byte / 2 KiB buffers) rather than holding 64 KiB apiece.
    // Slot batches (no GRO) still need HandOffMinimum datagrams: their spare holds a whole slot buffer.
    private const int BatchSize = 32;
    private const int HandOffMinimum = 4;
    private const int LargeDatagram = 8192;
    // Spare batches per socket (each ≈ 1–40 KiB of entry arrays; the datagrams stay in the shared arenas): 16 since
    // session 17 (8 before; with 64 KiB datagrams 8 batches in flight were only 8–24 datagrams, and the rest of a
    // backed-up loop's inbox was copied). OSPBRIDGE_QUIC_BATCHES=n for A/B.
    private static readonly int MaxBatches = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_BATCHES") is { } b && int.TryParse(b, out int mb) && mb >= 1 ? mb : 16;
    private static readonly bool CopyEachDatagram = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_RECV") == "copy";
    private static readonly bool SmallArenaBatchesCopied = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_RECV") == "copy-small"; // A/B: before session 17
    // Issue 14 (session 9): the datagrams of one receive batch are queued without waking their loops; afterwards each
    // loop is woken once — and when the batch went to one connection, its pass runs right here on the receive task
    // (receive → core → flush of the answer on one thread, no thread-pool hop). OSPBRIDGE_QUIC_WAKE=async queues every
    // pass to the thread pool as before (A/B); OSPBRIDGE_QUIC_WAKE=each also wakes per datagram (session 8's behaviour).
    private static readonly string? WakeMode = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_WAKE");
    private static readonly bool WakeInline = WakeMode is null or "inline";
    private static readonly bool WakeEach = WakeMode == "each";
    // Connections that got datagrams from the current receive batch (receive task only; ≤ BatchSize entries).
    private readonly List<QuicConnection> _touched = new(4);
    private readonly Stack<DatagramBatch> _spareBatches = new();
    private int _batchesAllocated;

    /// <summary>Spare batches allocated so far: the most batches that were in flight at once, plus the one receiving (benches).</summary>
    internal int BatchesAllocated => Volatile.Read(ref _batchesAllocated);
    private Action<DatagramBatch>? _returnBatch;

    /// <summary>Batches handed to a connection's loop whole (diagnostics: with <c>OSPBRIDGE_QUIC_STATS=1</c>).</summary>
    internal long BatchesHandedOff, DatagramsHandedOff, DatagramsCopied;

    /// <summary>Datagrams copied because every spare batch was in flight (diagnostics; part of <see cref="DatagramsCopied"/>).</summary>
    internal long DatagramsCopiedNoSpare;

    private async Task ReceiveLoopAsync()
    {
        var batch = new DatagramBatch(BatchSize, ReceiveSlotSize);
        _batchesAllocated = 1;
        _returnBatch = ReturnBatch;
        int consecutiveErrors = 0;
        while (true)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(batch, CancellationToken.None).ConfigureAwait(false);
                consecutiveErrors = 0;
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (System.Net.Sockets.SocketException ex)
            {
                // ECONNREFUSED/ENETUNREACH from an earlier send surface here on Linux; bounded so a dead socket ends.
                if (++consecutiveErrors > 1000) { if (_logger is not null) ReceiveFailing(_logger, _socket.LocalEndPoint, ex); return; }
                continue;
            }
            try
            {
                if ((n >= HandOffMinimum || (!SmallArenaBatchesCopied && IsLargeArenaBatch(batch, n))) && !CopyEachDatagram && TryHandOff(batch, n) is { } next)
                {
                    batch = next;
                    continue;
                }
                for (int i = 0; i < n; i++) Dispatch(batch[i], batch.PathAt(i));
            }
            finally
            {
                WakeTouched();
            }
        }
    }

    /// <summary>A batch whose datagrams lie in a GRO arena (<see cref="DatagramBatch.IsFull"/> is always true then; a slot batch of fewer than HandOffMinimum datagrams is not full) and average at least <see cref="LargeDatagram"/> bytes.</summary>
    private static bool IsLargeArenaBatch(DatagramBatch batch, int n)
    {
        if (!batch.IsFull) return false;
        long bytes = 0;
        for (int i = 0; i < n; i++) bytes += batch.LengthAt(i);
        return bytes >= (long)n * LargeDatagram;
    }

    /// <summary>Wakes the loops that got datagrams from this batch: inline when there was exactly one, else through the pool.</summary>
    private void WakeTouched()
    {
        int count = _touched.Count;
        if (count == 0) return;
        bool inline = WakeInline && count == 1;
        for (int i = 0; i < count; i++) _touched[i].WakeLoop(inline);
        _touched.Clear();
    }

    private void Touch(QuicConnection c)
    {
        if (WakeEach) { c.WakeLoop(inline: false); return; }
        for (int i = 0; i < _touched.Count; i++) if (_touched[i] == c) return;
        _touched.Add(c);
    }

    /// <summary>Hands <paramref name="batch"/> to its one connection's loop; the spare to receive into next, or null (nothing handed off).</summary>
    private DatagramBatch? TryHandOff(DatagramBatch batch, int n)
    {
        var target = _single;
        if (target is null)
        {
            for (int i = 0; i < n; i++)
            {
                var d = batch[i];
                var c = d.IsEmpty ? null : Route(d, batch.PathAt(i).Remote);
                if (c is null || (target is not null && c != target)) return null;
                target = c;
            }
        }
        for (int i = 0; i < n; i++) if (batch.LengthAt(i) == 0) return null;
        DatagramBatch? spare;
        lock (_spareBatches)
        {
            if (!_spareBatches.TryPop(out spare))
            {
                if (_batchesAllocated >= MaxBatches)
                {
                    DatagramsCopiedNoSpare += n;
                    return null;
                }
                _batchesAllocated++;
            }
        }
        spare ??= new DatagramBatch(BatchSize, ReceiveSlotSize);
        if (!target!.QueueBatch(batch, _returnBatch!))
        {
            ReturnBatch(spare);
            return null;
        }
        Touch(target);
        BatchesHandedOff++;
        DatagramsHandedOff += n;
        return spare;
    }

    private void ReturnBatch(DatagramBatch batch)
    {
        batch.Clear();
        lock (_spareBatches) _spareBatches.Push(batch);
    }

    private static readonly Action<ILogger, IPEndPoint, Exception?> ReceiveFailing =
        LoggerMessage.Define<IPEndPoint>(LogLevel.Warning, new EventId(1, "QuicReceiveFailing"), "receive on {Local} keeps failing; stopping");

    private void Dispatch(Span<byte> datagram, DatagramPath path)
    {
        if (datagram.IsEmpty) return;
        var target = _single ?? Route(datagram, path.Remote);
        DatagramsCopied++;
        if (target is not null)
        {
            if (target.Queue(datagram, path)) Touch(target);
        }
        else OnUnrouted?.Invoke(datagram, path);
    }

    private QuicConnection? Route(ReadOnlySpan<byte> d, IPEndPoint? from)
    {
        if ((d[0] & 0x80) != 0)
        {
            if (d.Length < 6) return null;
            int dl = d[5];
            if (d.Length < 6 + dl) return null;
            if (dl > 0 && _byCid.TryGetValue(CidKey.From(d.Slice(6, dl)), out var c)) return c;
        }
        else if (_shortHeaderCidLength > 0 && d.Length >= 1 + _shortHeaderCidLength && _byCid.TryGetValue(CidKey.From(d.Slice(1, _shortHeaderCidLength)), out var c2)) return c2;
        // zero-length connection IDs: the peer address identifies the connection
        return _byAddress.IsEmpty || from is null ? null : _byAddress.TryGetValue(from, out var a) ? a : null;
    }

    public void Register(ReadOnlySpan<byte> cid, QuicConnection c)
    {
        if (cid.Length > 0) _byCid[CidKey.From(cid)] = c;
    }

    public void Unregister(ReadOnlySpan<byte> cid, QuicConnection c)
    {
        if (cid.Length > 0) _byCid.TryRemove(new KeyValuePair<CidKey, QuicConnection>(CidKey.From(cid), c));
    }

    public void RegisterAddress(IPEndPoint a, QuicConnection c) => _byAddress[a] = c;

    public void UnregisterAll(QuicConnection c)
    {
        foreach (var kv in _byCid) if (kv.Value == c) _byCid.TryRemove(kv);
        foreach (var kv in _byAddress) if (kv.Value == c) _byAddress.TryRemove(kv);
    }

    /// <summary>Sends one datagram outside any connection (Version Negotiation, Retry, stateless reset).</summary>
    public void Send(ReadOnlySpan<byte> datagram, DatagramPath path) => _socket.Send(datagram, path);

    /// <summary>Adds a user of the socket (each server connection keeps the listener's socket alive).</summary>
    public void AddRef() => Interlocked.Increment(ref _refs);

    /// <summary>Drops a user; the socket closes when the last one is gone.</summary>
    public Task ReleaseAsync()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return Task.CompletedTask;
        _socket.Dispose();
        return _receiver;
    }
}
