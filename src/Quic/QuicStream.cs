using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>
/// A QUIC stream (shaped like System.Net.Quic's <c>QuicStream</c>): a <see cref="Stream"/> plus QUIC-specific
/// operations. Reads and writes run on the connection's loop; when no data or no send credit is available they
/// await the core's readable/writable event for this stream (no polling, no lock).
/// </summary>
public sealed class QuicStream : Stream
{
    private readonly QuicConnection _conn;
    private readonly StreamOperation _readOp, _writeOp;
    private readonly TaskCompletionSource _readsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _writesClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _defaultErrorCode;
    private volatile bool _finWritten, _disposed, _readFin;

    internal QuicStream(QuicConnection connection, long id, QuicStreamType type, long defaultErrorCode)
        : this(connection, id, type, defaultErrorCode, local: ((id & 1) == 1) == !connection.IsClient)
    {
    }

    /// <summary>
    /// A stream we open with its first bytes (<see cref="QuicConnection.OpenOutboundStreamAsync(QuicStreamType, ReadOnlyMemory{byte}, bool, CancellationToken)"/>):
    /// its ID is assigned on the loop, by <see cref="OpenWithDataAsync"/>; until then it is -1.
    /// </summary>
    internal QuicStream(QuicConnection connection, QuicStreamType type, long defaultErrorCode)
        : this(connection, -1, type, defaultErrorCode, local: true)
    {
    }

    private QuicStream(QuicConnection connection, long id, QuicStreamType type, long defaultErrorCode, bool local)
    {
        _conn = connection;
        Id = id;
        Type = type;
        _defaultErrorCode = defaultErrorCode;
        _readOp = new StreamOperation(this);
        _writeOp = new StreamOperation(this);
        CanRead = type == QuicStreamType.Bidirectional || !local;
        CanWrite = type == QuicStreamType.Bidirectional || local;
        if (!CanRead) _readsClosed.TrySetResult();
        if (!CanWrite) _writesClosed.TrySetResult();
        _ = _readsClosed.Task.Exception; // observed by design
    }

    /// <summary>The QUIC stream ID.</summary>
    public long Id { get; private set; }

    /// <summary>The stream's connection.</summary>
    internal QuicConnection Connection => _conn;

    /// <summary>Uni- or bidirectional.</summary>
    public QuicStreamType Type { get; }

    /// <summary>Completes when the read side is finished (FIN read) or fails when aborted/reset.</summary>
    public Task ReadsClosed => _readsClosed.Task;

    /// <summary>Completes when everything written was acknowledged, or fails when aborted.</summary>
    public Task WritesClosed => _writesClosed.Task;

    /// <inheritdoc/>
    public override bool CanRead { get; }
    /// <inheritdoc/>
    public override bool CanWrite { get; }
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanTimeout => false;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>On the loop: data, FIN or a reset arrived, or the connection closed.</summary>
    internal void OnReadable() => Retry(_readOp, ReadOnLoopAction);

    /// <summary>On the loop: credit or buffer space arrived, everything was acknowledged, STOP_SENDING, or the connection closed.</summary>
    internal void OnWritable()
    {
        Retry(_writeOp, WriteOnLoopAction);
        var core = _conn.Core;
        var s = core.GetStream(Id);
        if (s is null)
        {
            if (_finWritten) _writesClosed.TrySetResult();
            else if (core.State >= CoreState.Closing) _writesClosed.TrySetException(_conn.CloseException());
            // Gone without our FIN: the send side was aborted (STOP_SENDING answered with RESET_STREAM, or a local abort)
            // and the core retired the stream before this event ran.
            else _writesClosed.TrySetException(new QuicException(QuicError.StreamAborted, null, "stream aborted"));
            return;
        }
        if (s.PeerStopSendingCode is long code) _writesClosed.TrySetException(new QuicException(QuicError.StreamAborted, code, "peer sent STOP_SENDING"));
        else if (s.Send is not null && s.Send.AllAcked) _writesClosed.TrySetResult();
        if (core.State >= CoreState.Closing) _writesClosed.TrySetException(_conn.CloseException());
    }

    /// <summary>
    /// On the loop (an event handler): a waiting operation tries again in the loop's next drain — queued rather than run
    /// here, so what it makes the core send (a window update after a read) goes out with that drain's flush. If the
    /// inbox no longer takes work (the loop is finishing), it runs right here.
    /// </summary>
    private void Retry(StreamOperation op, Action<object?, TimeSpan> action)
    {
        if (!op.Waiting || op.Queued || op.IsDone) return;
        op.Queued = true;
        if (!_conn.TryQueueOnLoop(action, op)) action(op, _conn.Now);
    }

    /// <summary>
    /// Reads into <paramref name="buffer"/>. Allocates nothing (issue 14): the call takes the stream's one read operation
    /// (a concurrent second read fails with <see cref="InvalidOperationException"/>), runs on the connection's loop (on
    /// this thread when the loop is idle) and completes at once when data, FIN or an error is there; otherwise the buffer
    /// becomes the stream's waiting read — the core copies the next in-order bytes straight into it — and the read
    /// completes on the readable event. Cancelled while waiting, it returns the bytes already copied, if any.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_disposed) return ValueTask.FromException<int>(new ObjectDisposedException(GetType().FullName));
        if (!CanRead) return ValueTask.FromException<int>(new InvalidOperationException("stream is not readable"));
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<int>(cancellationToken);
        if (_readFin) return new ValueTask<int>(0);
        var op = _readOp;
        if (!op.TryBegin(cancellationToken))
            return ValueTask.FromException<int>(new InvalidOperationException("a read is already pending on this stream (one ReadAsync at a time)"));
        op.ReadBuffer = buffer;
        if (!_conn.TryRunOnLoop(ReadOnLoopAction, op)) op.TrySetException(_conn.StoppedException());
        return op.AsValueTaskOfInt();
    }

    private static readonly Action<object?, TimeSpan> ReadOnLoopAction = static (state, now) => ((StreamOperation)state!).Stream.ReadOnLoop(now);
    private static readonly Action<object?, TimeSpan> WriteOnLoopAction = static (state, now) => ((StreamOperation)state!).Stream.WriteOnLoop();
    private static readonly Action<object?, TimeSpan> CancelOnLoopAction = static (state, now) => ((StreamOperation)state!).Stream.CancelOnLoop((StreamOperation)state!);

    /// <summary>A token registered by a waiting operation fired (any thread): the loop decides what the operation returns.</summary>
    private static readonly Action<object?> OnCanceled = static state =>
    {
        var op = (StreamOperation)state!;
        // If the loop no longer takes work it is stopping: the connection's shutdown fails the operation once it stopped.
        op.Stream._conn.TryRunOnLoop(CancelOnLoopAction, op, inline: false);
    };

    /// <summary>
    /// On the loop: reads what is there; otherwise registers the buffer as the stream's waiting read (the core copies the
    /// next in-order bytes straight into it) and leaves the operation waiting for the readable event. Never throws (an
    /// exception here would stop the loop): errors complete the read.
    /// </summary>
    private void ReadOnLoop(TimeSpan now)
    {
        var op = _readOp;
        op.Queued = false;
        if (op.IsDone) return; // cancelled or failed meanwhile
        op.Waiting = false;
        try
        {
            if (_readFin) { op.TrySetResult(0); return; }
            var core = _conn.Core;
            if (core.GetStream(Id) is null)
            {
                var ex = core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
                _readsClosed.TrySetException(ex);
                op.TrySetException(ex);
                return;
            }
            var buffer = op.ReadBuffer;
            int n;
            bool fin;
            try { n = core.StreamRead(Id, buffer.Span, buffer, now, out fin); }
            catch (QuicException e) { _readsClosed.TrySetException(e); op.TrySetException(e); return; }
            if (n > 0 || fin)
            {
                if (fin) { _readFin = true; _readsClosed.TrySetResult(); }
                op.TrySetResult(n);
                return;
            }
            if (buffer.Length == 0) { op.TrySetResult(0); return; }
            if (core.State >= CoreState.Closing)
            {
                core.StreamTakePendingRead(Id); // nothing was filled (n == 0); the buffer is not left registered
                var ex = _conn.CloseException();
                _readsClosed.TrySetException(ex);
                op.TrySetException(ex);
                return;
            }
            op.Waiting = true;
            op.RegisterCancellation(OnCanceled);
        }
        catch (Exception e)
        {
            _conn.Core.StreamTakePendingRead(Id);
            op.TrySetException(e);
        }
    }

    /// <summary>
    /// On the loop: a waiting operation's token fired. A read unregisters its buffer: bytes the core already copied into
    /// it are consumed from the stream, so they are the read's result rather than lost; with none it is cancelled.
    /// </summary>
    private void CancelOnLoop(StreamOperation op)
    {
        // done meanwhile, or a later operation reuses the object (its token has not fired: this callback is stale)
        if (op.IsDone || !op.Token.IsCancellationRequested) return;
        if (ReferenceEquals(op, _readOp))
        {
            int got = _conn.Core.StreamTakePendingRead(Id);
            if (got > 0) { op.TrySetResult(got); return; }
        }
        op.TrySetCanceled();
    }

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => WriteAsync(buffer, completeWrites: false, cancellationToken);

    /// <summary>
    /// Writes and optionally completes the write side (FIN) in the same call. Allocates nothing (issue 14): the call takes
    /// the stream's one write operation (a concurrent second write fails with <see cref="InvalidOperationException"/>) and
    /// runs on the connection's loop; when the send buffer or credit runs out, the rest waits for the writable event.
    /// Cancelled while waiting, the bytes already accepted stay written (the call throws).
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default)
    {
        if (_disposed) return ValueTask.FromException(new ObjectDisposedException(GetType().FullName));
        if (!CanWrite) return ValueTask.FromException(new InvalidOperationException("stream is not writable"));
        if (_finWritten) return ValueTask.FromException(new InvalidOperationException("writes were completed"));
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        var op = _writeOp;
        if (!op.TryBegin(cancellationToken))
            return ValueTask.FromException(new InvalidOperationException("a write is already pending on this stream (one WriteAsync at a time)"));
        op.WriteBuffer = buffer;
        op.WriteOffset = 0;
        op.LeaseMax = 0;
        op.CompleteWrites = completeWrites;
        if (!_conn.TryRunOnLoop(WriteOnLoopAction, op)) op.TrySetException(_conn.StoppedException());
        return op.AsValueTask();
    }

    /// <summary>On the loop: hands the core what it takes; the rest waits for the writable event. Never throws.</summary>
    private void WriteOnLoop()
    {
        var op = _writeOp;
        op.Queued = false;
        if (op.IsDone) return;
        op.Waiting = false;
        try
        {
            var core = _conn.Core;
            if (core.GetStream(Id) is null)
            {
                op.TrySetException(core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed"));
                return;
            }
            if (op.LeaseMax > 0)
            {
                var segment = core.StreamLease(Id, op.LeaseMax);
                if (segment.Count > 0)
                {
                    op.LeaseResult = segment.AsMemory();
                    op.TrySetResult(segment.Count);
                    return;
                }
                op.Waiting = true;
                op.RegisterCancellation(OnCanceled);
                return;
            }
            var data = op.WriteBuffer;
            int n = core.StreamWrite(Id, data.Span[op.WriteOffset..], op.CompleteWrites);
            op.WriteOffset += n;
            if (op.WriteOffset == data.Length)
            {
                if (op.CompleteWrites) _finWritten = true;
                op.TrySetResult(0);
                return;
            }
            op.Waiting = true;
            op.RegisterCancellation(OnCanceled);
        }
        catch (Exception e)
        {
            op.TrySetException(e);
        }
    }

    /// <summary>
    /// Opens this stream (ID -1 so far) and writes <paramref name="data"/> (then FIN with <paramref name="completeWrites"/>)
    /// in one loop action — one pass, one flush: the stream's first packet carries the data (issue 11, session 17: a q2q
    /// request's open, write and FIN were separate passes, each run on the caller's thread with its own packet). On the stream's write operation, like
    /// <see cref="WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/>: what does not fit the send buffer or the
    /// peer's credit waits for the writable event. Completes with the ID still -1 when the peer's stream limit is reached;
    /// <see cref="StreamsAvailable"/> is then the connection's signal to wait for before trying again.
    /// </summary>
    internal ValueTask OpenWithDataAsync(ReadOnlyMemory<byte> data, bool completeWrites, CancellationToken cancellationToken)
    {
        var op = _writeOp;
        if (!op.TryBegin(cancellationToken))
            return ValueTask.FromException(new InvalidOperationException("the stream is being opened"));
        op.WriteBuffer = data;
        op.WriteOffset = 0;
        op.LeaseMax = 0;
        op.CompleteWrites = completeWrites;
        // Not inline: the pass is queued (an idle loop's runs on a pool thread), so opens issued together — a client's
        // burst of requests — share one pass, one flush and their packets; the data of many streams leaves in a few
        // packets instead of one each (issue 11, session 17: client packets per request 1.07 -> 0.31, and the peer
        // receives the streams in a batch). OSPBRIDGE_QUIC_OPEN_INLINE=1 runs the pass on the caller's thread (A/B).
        if (!_conn.TryRunOnLoop(OpenOnLoopAction, op, inline: OpenInline)) op.TrySetException(_conn.StoppedException());
        return op.AsValueTask();
    }

    private static readonly bool OpenInline = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_OPEN_INLINE") == "1";

    /// <summary>Set on the loop when <see cref="OpenWithDataAsync"/> found the peer's stream limit reached: completes when more streams may be opened.</summary>
    internal Task? StreamsAvailable { get; private set; }

    private static readonly Action<object?, TimeSpan> OpenOnLoopAction = static (state, _) => ((StreamOperation)state!).Stream.OpenOnLoop();

    /// <summary>On the loop: opens the stream in the core, registers it for events, then writes as <see cref="WriteOnLoop"/>. Never throws.</summary>
    private void OpenOnLoop()
    {
        var op = _writeOp;
        op.Queued = false;
        if (op.IsDone) return;
        try
        {
            var core = _conn.Core;
            if (core.State >= CoreState.Closing)
            {
                op.TrySetException(_conn.CloseException());
                return;
            }
            long id = core.OpenStream(Type == QuicStreamType.Bidirectional);
            if (id < 0)
            {
                // Taken on the loop right after the refusal: the peer's MAX_STREAMS is handled on the loop, so it cannot
                // slip in between. STREAMS_BLOCKED goes out with this pass's flush.
                StreamsAvailable = _conn.StreamsSignalOnLoop();
                op.TrySetResult(0);
                return;
            }
            StreamsAvailable = null;
            Id = id;
            _conn.RegisterStreamOnLoop(this);
        }
        catch (Exception e)
        {
            op.TrySetException(e);
            return;
        }
        WriteOnLoop();
    }

    /// <summary>After the connection's loop stopped (nothing runs them any more): pending reads and writes fail.</summary>
    internal void FailOperations(Exception error)
    {
        _readOp.TrySetException(error);
        _writeOp.TrySetException(error);
    }

    /// <summary>
    /// Lends up to <paramref name="maxLength"/> bytes of this stream's send buffer (contiguous; fewer when the buffer wraps
    /// or has less room) for the caller to fill in place — e.g. by reading a socket or file straight into it — instead
    /// of writing from its own buffer, which costs a copy. Waits while the buffer has no room. The stream takes no other
    /// write until <see cref="CommitLease"/>; the memory must not be touched after it.
    /// </summary>
    public ValueTask<Memory<byte>> LeaseWriteAsync(int maxLength, CancellationToken cancellationToken = default)
    {
        // Issue 14 (session 14): on the stream's write operation like WriteAsync — nothing allocated per lease.
        if (_disposed) return ValueTask.FromException<Memory<byte>>(new ObjectDisposedException(GetType().FullName));
        if (!CanWrite) return ValueTask.FromException<Memory<byte>>(new InvalidOperationException("stream is not writable"));
        if (_finWritten) return ValueTask.FromException<Memory<byte>>(new InvalidOperationException("writes were completed"));
        if (maxLength <= 0) return ValueTask.FromException<Memory<byte>>(new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "must be positive"));
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<Memory<byte>>(cancellationToken);
        if (Interlocked.Exchange(ref _leased, 1) != 0)
            return ValueTask.FromException<Memory<byte>>(new InvalidOperationException("the stream's send space is already leased"));
        var op = _writeOp;
        if (!op.TryBegin(cancellationToken))
        {
            Volatile.Write(ref _leased, 0);
            return ValueTask.FromException<Memory<byte>>(new InvalidOperationException("a write is already pending on this stream (one WriteAsync at a time)"));
        }
        op.LeaseMax = maxLength;
        if (!_conn.TryRunOnLoop(WriteOnLoopAction, op)) op.TrySetException(_conn.StoppedException());
        return op.AsValueTaskOfLease(); // a failed lease clears _leased (OnLeaseFailed) when its result is taken
    }

    /// <summary>The lease operation failed or was cancelled: the stream may be leased again.</summary>
    internal void OnLeaseFailed() => Volatile.Write(ref _leased, 0);

    /// <summary>
    /// Ends the lease of <see cref="LeaseWriteAsync"/>: its first <paramref name="count"/> bytes are sent as stream data
    /// (0: nothing), then FIN if <paramref name="completeWrites"/>. Ordered with the stream's other operations.
    /// </summary>
    public void CommitLease(int count, bool completeWrites = false)
    {
        if (Interlocked.Exchange(ref _leased, 0) == 0) throw new InvalidOperationException("no lease to commit");
        if (completeWrites) _finWritten = true;
        // One commit at a time: the next lease is queued after this commit (the loop's inbox is FIFO), so the fields are
        // not overwritten before the loop read them. No closure (issue 14): a cached action with the stream as state.
        _commitCount = count;
        _commitFin = completeWrites;
        // Not inline (issue 11, session 16): a writer that commits by lease is about to lease again and fill the next
        // chunk (PeerFetch's device reads its origin straight into it). Run inline, this commit's pass — sealing and
        // sending the chunk — ran on the writer's thread before it could lease again, so reading the next chunk and
        // sending this one never overlapped. Queued, a pool thread runs the pass; the writer's next lease lands in that
        // pass's drain (granted before its flush) and the writer fills it while the chunk goes out. The last commit
        // (FIN) has nothing to overlap with and runs inline. OSPBRIDGE_QUIC_COMMIT_INLINE=1 restores inline (A/B).
        _conn.TryRunOnLoop(CommitOnLoopAction, this, inline: completeWrites || CommitInline);
    }

    private static readonly bool CommitInline = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_COMMIT_INLINE") == "1";

    private int _commitCount;
    private bool _commitFin;

    private static readonly Action<object?, TimeSpan> CommitOnLoopAction = static (state, _) =>
    {
        var stream = (QuicStream)state!;
        var core = stream._conn.Core;
        try
        {
            if (core.State < CoreState.Closing) core.StreamCommitLease(stream.Id, stream._commitCount, stream._commitFin);
        }
        catch (QuicException)
        {
            // as before (Post): the stream's next operation finds the error; loop work must not throw
        }
    };

    private int _leased;

    /// <summary>Sends FIN: no more data will be written.</summary>
    public void CompleteWrites()
    {
        if (_finWritten || !CanWrite) return;
        _finWritten = true;
        _conn.Post(_ =>
        {
            try
            {
                if (_conn.Core.GetStream(Id) is not null && _conn.Core.State < CoreState.Closing)
                    _conn.Core.StreamWrite(Id, ReadOnlySpan<byte>.Empty, fin: true);
            }
            catch (QuicException)
            {
                // The peer sent STOP_SENDING or the writes were aborted: FIN is moot, and WritesClosed already carries
                // the reason. Loop work must not throw (a throwing action fails the whole connection).
            }
        });
    }

    /// <summary>Aborts reading (STOP_SENDING) and/or writing (RESET_STREAM) with an application error code.</summary>
    public void Abort(QuicAbortDirection abortDirection, long errorCode)
    {
        bool read = (abortDirection & QuicAbortDirection.Read) != 0 && CanRead;
        bool write = (abortDirection & QuicAbortDirection.Write) != 0 && CanWrite;
        if (read) _readsClosed.TrySetException(new QuicException(QuicError.OperationAborted, null, "reads aborted locally"));
        if (write) _writesClosed.TrySetException(new QuicException(QuicError.OperationAborted, null, "writes aborted locally"));
        _conn.Post(_ =>
        {
            var core = _conn.Core;
            try
            {
                if (read) core.StreamAbortRead(Id, errorCode);
                if (write) core.StreamAbortWrite(Id, errorCode);
            }
            catch (QuicException)
            {
                // the stream is gone or the connection is closing: nothing left to abort (loop work must not throw)
            }
            // a waiting read or write tries again: it finds the abort (or the stream gone) and fails
            Retry(_readOp, ReadOnLoopAction);
            Retry(_writeOp, WriteOnLoopAction);
        });
    }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        var tmp = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(tmp.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            tmp.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(tmp); }
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    /// <inheritdoc/>
    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();
    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    /// <inheritdoc/>
    public override void Flush() { }
    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Completes writes gracefully and aborts unread reads with the default stream error code.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        if (CanWrite && !_finWritten && !_writesClosed.Task.IsCompleted) CompleteWrites();
        if (CanRead && !_readsClosed.Task.IsCompleted) Abort(QuicAbortDirection.Read, Math.Max(0, _defaultErrorCode));
        _disposed = true;
        _conn.ForgetStream(this);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            if (CanWrite && !_finWritten && !_writesClosed.Task.IsCompleted) CompleteWrites();
            if (CanRead && !_readsClosed.Task.IsCompleted) Abort(QuicAbortDirection.Read, Math.Max(0, _defaultErrorCode));
            _disposed = true;
            _conn.ForgetStream(this);
        }
        base.Dispose(disposing);
    }
}
