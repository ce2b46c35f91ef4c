using OspBridge.Quic.Core;
using OspBridge.Quic.Driver;

namespace OspBridge.Quic;

/// <summary>A QUIC stream (shaped like System.Net.Quic's <c>QuicStream</c>): a <see cref="Stream"/> plus QUIC-specific operations.</summary>
public sealed class QuicStream : Stream
{
    private readonly QuicConnection _conn;
    private readonly AsyncSignal _readSignal = new(), _writeSignal = new();
    private readonly TaskCompletionSource _readsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _writesClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _defaultErrorCode;
    private bool _finWritten, _disposed, _readFin;

    internal QuicStream(QuicConnection connection, long id, QuicStreamType type, long defaultErrorCode)
    {
        _conn = connection;
        Id = id;
        Type = type;
        _defaultErrorCode = defaultErrorCode;
        bool local = ((id & 1) == 1) == !connection.CoreForTests.IsClient;
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

    internal void OnReadable() => _readSignal.Set();

    internal void OnWritable()
    {
        _writeSignal.Set();
        var core = _conn.CoreForTests;
        var s = core.GetStream(Id);
        if (s is null)
        {
            if (_finWritten) _writesClosed.TrySetResult();
            else if (core.State >= CoreState.Closing) _writesClosed.TrySetException(_conn.CloseException());
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
            Task wait;
            lock (_conn.Sync)
            {
                wait = _readSignal.WaitTask();
                if (_readFin) return 0;
                var core = _conn.CoreForTests;
                if (core.GetStream(Id) is null)
                {
                    var ex = core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
                    _readsClosed.TrySetException(ex);
                    throw ex;
                }
                int n;
                bool fin;
                try { n = core.StreamRead(Id, buffer.Span, QuicConnection.Now, out fin); }
                catch (QuicException e) { _readsClosed.TrySetException(e); throw; }
                if (n > 0 || fin)
                {
                    if (fin) { _readFin = true; _readsClosed.TrySetResult(); }
                    _conn.Wake();
                    return n;
                }
                if (buffer.Length == 0) return 0;
                if (core.State >= CoreState.Closing)
                {
                    var ex = _conn.CloseException();
                    _readsClosed.TrySetException(ex);
                    throw ex;
                }
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
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
            Task wait;
            lock (_conn.Sync)
            {
                wait = _writeSignal.WaitTask();
                var core = _conn.CoreForTests;
                if (core.GetStream(Id) is null) throw core.State >= CoreState.Closing ? _conn.CloseException() : new QuicException(QuicError.OperationAborted, null, "stream closed");
                int n = core.StreamWrite(Id, buffer.Span[offset..], completeWrites);
                offset += n;
                if (n > 0 || (completeWrites && offset == buffer.Length)) _conn.Wake();
                if (offset == buffer.Length)
                {
                    if (completeWrites) _finWritten = true;
                    return;
                }
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends FIN: no more data will be written.</summary>
    public void CompleteWrites()
    {
        if (_finWritten || !CanWrite) return;
        lock (_conn.Sync)
        {
            var core = _conn.CoreForTests;
            if (core.GetStream(Id) is null) return;
            core.StreamWrite(Id, ReadOnlySpan<byte>.Empty, fin: true);
            _finWritten = true;
        }
        _conn.Wake();
    }

    /// <summary>Aborts reading (STOP_SENDING) and/or writing (RESET_STREAM) with an application error code.</summary>
    public void Abort(QuicAbortDirection abortDirection, long errorCode)
    {
        lock (_conn.Sync)
        {
            var core = _conn.CoreForTests;
            if ((abortDirection & QuicAbortDirection.Read) != 0 && CanRead)
            {
                core.StreamAbortRead(Id, errorCode);
                _readsClosed.TrySetException(new QuicException(QuicError.OperationAborted, null, "reads aborted locally"));
            }
            if ((abortDirection & QuicAbortDirection.Write) != 0 && CanWrite)
            {
                core.StreamAbortWrite(Id, errorCode);
                _writesClosed.TrySetException(new QuicException(QuicError.OperationAborted, null, "writes aborted locally"));
            }
        }
        _readSignal.Set();
        _writeSignal.Set();
        _conn.Wake();
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
        }
        base.Dispose(disposing);
    }
}
