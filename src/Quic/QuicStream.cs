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
    private readonly LoopSignal _readSignal = new(), _writeSignal = new();
    private readonly TaskCompletionSource _readsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _writesClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _defaultErrorCode;
    private volatile bool _finWritten, _disposed, _readFin;

    internal QuicStream(QuicConnection connection, long id, QuicStreamType type, long defaultErrorCode)
    {
        _conn = connection;
        Id = id;
        Type = type;
        _defaultErrorCode = defaultErrorCode;
        bool local = ((id & 1) == 1) == !connection.IsClient;
        CanRead = type == QuicStreamType.Bidirectional || !local;
        CanWrite = type == QuicStreamType.Bidirectional || local;
        if (!CanRead) _readsClosed.TrySetResult();
        if (!CanWrite) _writesClosed.TrySetResult();
        _ = _readsClosed.Task.Exception; // observed by design
    }

    /// <summary>The QUIC stream ID.</summary>
    public long Id { get; }

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
    internal void OnReadable() => _readSignal.Set();

    /// <summary>On the loop: credit or buffer space arrived, everything was acknowledged, STOP_SENDING, or the connection closed.</summary>
    internal void OnWritable()
    {
        _writeSignal.Set();
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

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!CanRead) throw new InvalidOperationException("stream is not readable");
        while (true)
        {
            if (_readFin) return 0;
            var (n, wait) = await _conn.Call(now => ReadOnLoop(buffer, now), cancellationToken).ConfigureAwait(false);
            if (wait is null) return n;
            try
            {
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The core may already have copied bytes into the buffer (the waiting read): they are consumed from the
                // stream, so they are this read's result rather than lost.
                int got = await _conn.Call(_ => _conn.Core.StreamTakePendingRead(Id), CancellationToken.None).ConfigureAwait(false);
                if (got > 0) return got;
                throw;
            }
        }
    }

    /// <summary>
    /// On the loop: reads what is there; otherwise registers the buffer as the stream's waiting read (the core copies the
    /// next in-order bytes straight into it) and returns the readable event to await.
    /// </summary>
    private (int Read, Task? Wait) ReadOnLoop(Memory<byte> buffer, TimeSpan now)
    {
        if (_readFin) return (0, null);
        var core = _conn.Core;
        if (core.GetStream(Id) is null)
        {
            var ex = core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
            _readsClosed.TrySetException(ex);
            throw ex;
        }
        int n;
        bool fin;
        try { n = core.StreamRead(Id, buffer.Span, buffer, now, out fin); }
        catch (QuicException e) { _readsClosed.TrySetException(e); throw; }
        if (n > 0 || fin)
        {
            if (fin) { _readFin = true; _readsClosed.TrySetResult(); }
            return (n, null);
        }
        if (buffer.Length == 0) return (0, null);
        if (core.State >= CoreState.Closing)
        {
            core.StreamTakePendingRead(Id); // nothing was filled (n == 0); the buffer is not left registered
            var ex = _conn.CloseException();
            _readsClosed.TrySetException(ex);
            throw ex;
        }
        return (0, _readSignal.Wait());
    }

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => WriteAsync(buffer, completeWrites: false, cancellationToken);

    /// <summary>Writes and optionally completes the write side (FIN) in the same call.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!CanWrite) throw new InvalidOperationException("stream is not writable");
        if (_finWritten) throw new InvalidOperationException("writes were completed");
        int offset = 0;
        while (true)
        {
            int start = offset;
            var (written, wait) = await _conn.Call(_ =>
            {
                var core = _conn.Core;
                if (core.GetStream(Id) is null) throw core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
                int n = core.StreamWrite(Id, buffer.Span[start..], completeWrites);
                if (start + n == buffer.Length)
                {
                    if (completeWrites) _finWritten = true;
                    return (n, (Task?)null);
                }
                return (n, _writeSignal.Wait());
            }, cancellationToken).ConfigureAwait(false);
            offset += written;
            if (wait is null) return;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Lends up to <paramref name="maxLength"/> bytes of this stream's send buffer (contiguous; fewer when the buffer wraps
    /// or has less room) for the caller to fill in place — e.g. by reading a socket or file straight into it — instead
    /// of writing from its own buffer, which costs a copy. Waits while the buffer has no room. The stream takes no other
    /// write until <see cref="CommitLease"/>; the memory must not be touched after it.
    /// </summary>
    public async ValueTask<Memory<byte>> LeaseWriteAsync(int maxLength, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!CanWrite) throw new InvalidOperationException("stream is not writable");
        if (_finWritten) throw new InvalidOperationException("writes were completed");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        if (Interlocked.Exchange(ref _leased, 1) != 0) throw new InvalidOperationException("the stream's send space is already leased");
        try
        {
            while (true)
            {
                var (segment, wait) = await _conn.Call(_ =>
                {
                    var core = _conn.Core;
                    if (core.GetStream(Id) is null) throw core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
                    var seg = core.StreamLease(Id, maxLength);
                    return (seg, seg.Count > 0 ? null : _writeSignal.Wait());
                }, cancellationToken).ConfigureAwait(false);
                if (wait is null) return segment.AsMemory();
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            Volatile.Write(ref _leased, 0);
            throw;
        }
    }

    /// <summary>
    /// Ends the lease of <see cref="LeaseWriteAsync"/>: its first <paramref name="count"/> bytes are sent as stream data
    /// (0: nothing), then FIN if <paramref name="completeWrites"/>. Ordered with the stream's other operations.
    /// </summary>
    public void CommitLease(int count, bool completeWrites = false)
    {
        if (Interlocked.Exchange(ref _leased, 0) == 0) throw new InvalidOperationException("no lease to commit");
        if (completeWrites) _finWritten = true;
        _conn.Post(_ =>
        {
            if (_conn.Core.State < CoreState.Closing) _conn.Core.StreamCommitLease(Id, count, completeWrites);
        });
    }

    private int _leased;

    /// <summary>Sends FIN: no more data will be written.</summary>
    public void CompleteWrites()
    {
        if (_finWritten || !CanWrite) return;
        _finWritten = true;
        _conn.Post(_ =>
        {
            if (_conn.Core.GetStream(Id) is not null && _conn.Core.State < CoreState.Closing)
                _conn.Core.StreamWrite(Id, ReadOnlySpan<byte>.Empty, fin: true);
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
            if (read) core.StreamAbortRead(Id, errorCode);
            if (write) core.StreamAbortWrite(Id, errorCode);
            _readSignal.Set();
            _writeSignal.Set();
        });
    }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        var tmp = new byte[buffer.Length];
        int n = ReadAsync(tmp).AsTask().GetAwaiter().GetResult();
        tmp.AsSpan(0, n).CopyTo(buffer);
        return n;
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
        _conn.Post(_ => _conn.RemoveStream(Id));
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
            _conn.Post(_ => _conn.RemoveStream(Id));
        }
        base.Dispose(disposing);
    }
}
