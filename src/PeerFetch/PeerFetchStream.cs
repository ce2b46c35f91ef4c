using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch;

/// <summary>
/// One request/response exchange on a v2 channel, as seen by either end. Reading returns the peer's body (and gives
/// credit back as it is consumed), writing sends ours under the peer's credit. State lives under the connection's lock.
/// </summary>
internal sealed class PeerFetchStream : IPeerFetchExchange
{
    private readonly PeerFetchConnection _conn;
    private readonly Queue<Chunk> _chunks = new();
    private int _headOffset; // bytes of the first chunk already read
    private readonly TaskCompletionSource<List<KeyValuePair<string, string>>> _head = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ReusableSignal _readable = new(); // one reader and one writer at a time: no allocation per wait
    private readonly ReusableSignal _writable = new();
    private Exception? _error;
    private Exception? _writeError;
    private bool _remoteEnded;
    private bool _localEnded;

    /// <summary>A stream we opened (we are the client of this exchange).</summary>
    internal PeerFetchStream(PeerFetchConnection conn, uint id)
    {
        _conn = conn;
        Id = id;
    }

    /// <summary>A stream the peer opened (we serve it).</summary>
    internal PeerFetchStream(PeerFetchConnection conn, uint id, List<KeyValuePair<string, string>> requestHead, bool endStream)
    {
        _conn = conn;
        Id = id;
        _head.TrySetResult(requestHead);
        _remoteEnded = endStream;
        HeadEndedStream = endStream;
    }

    /// <summary>A served stream whose request HEADERS carried END_STREAM: the request has no body at all. (Unlike
    /// <see cref="RemoteEnded"/>, which is also true once a whole body arrived but may not have been read yet.)</summary>
    internal bool HeadEndedStream { get; }

    bool IPeerFetchExchange.HeadEndedStream => HeadEndedStream;

    public uint Id { get; }

    /// <summary>The peer's head: the request (served stream) or the response (opened stream).</summary>
    public Task<List<KeyValuePair<string, string>>> Head => _head.Task;

    /// <summary>Trailers from the peer, once its body ended (null if none were sent).</summary>
    public List<KeyValuePair<string, string>>? Trailers { get; private set; }

    internal bool LocalEnded => _localEnded;
    public bool RemoteEnded => _remoteEnded;

    // ------------------------------------------------------------ events from the connection (under its lock)

    internal void OnHeaders(List<KeyValuePair<string, string>> fields, bool end)
    {
        if (!_head.Task.IsCompleted) _head.TrySetResult(fields);
        else Trailers = fields;
        if (end) { _remoteEnded = true; WakeReader(); }
    }

    internal void OnData(ReadOnlyMemory<byte> data, bool end, PeerFetchConnection.MessageLease? lease)
    {
        if (!data.IsEmpty)
        {
            lease?.Ref();
            _chunks.Enqueue(new Chunk(data, lease));
        }
        if (end) _remoteEnded = true;
        WakeReader();
    }

    private Action? _onAborted;

    /// <summary>Runs (on the thread pool) when the exchange is reset with an error; at once if it already was.</summary>
    public void SetOnAborted(Action value)
    {
        {
            bool fire;
            lock (_conn.Gate)
            {
                _onAborted = value;
                fire = ResetCode is { } c && c != PeerFetchErrorCode.NoError;
            }
            if (fire) ThreadPool.QueueUserWorkItem(_ => value());
        }
    }

    internal void OnReset(PeerFetchErrorCode code, string? message)
    {
        if (code != PeerFetchErrorCode.NoError && ResetCode is null && _onAborted is { } aborted) ThreadPool.QueueUserWorkItem(_ => aborted());
        var error = new PeerFetchException(PeerFetchError.StreamReset, $"stream {Id} reset ({code}){(message is null ? "" : ": " + message)}");
        ResetCode ??= code;
        _writeError ??= error;
        _localEnded = true;
        if (code == PeerFetchErrorCode.NoError && _remoteEnded)
        {
            // The peer's body is complete: a NO_ERROR reset only says "stop sending" (RFC 9113 §8.1), keep what we got.
            WakeWriter();
            return;
        }
        _error ??= error;
        _head.TrySetException(_error);
        _ = _head.Task.Exception;
        // Bytes still queued will never be read: hand their channel credit back.
        int pending = -_headOffset;
        _headOffset = 0;
        while (_chunks.TryDequeue(out var c))
        {
            pending += c.Data.Length;
            c.Lease?.Unref();
        }
        if (pending > 0) _conn.Mux.Consume(Id, pending);
        WakeReader();
        WakeWriter();
    }

    /// <summary>The code of the RESET that ended the stream, if any.</summary>
    internal PeerFetchErrorCode? ResetCode { get; private set; }

    internal void MarkLocalEnded() => _localEnded = true;

    internal void WakeWriter() => _writable.Set();

    private void WakeReader() => _readable.Set();

    // ------------------------------------------------------------ body in

    /// <summary>Reads body bytes; 0 at the end of the peer's body; throws when the stream was reset.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            ValueTask wait;
            lock (_conn.Gate)
            {
                if (_chunks.Count > 0)
                {
                    int n = 0;
                    while (n < buffer.Length && _chunks.Count > 0)
                    {
                        var c = _chunks.Peek();
                        var data = c.Data.Span[_headOffset..];
                        int take = Math.Min(data.Length, buffer.Length - n);
                        data[..take].CopyTo(buffer.Span[n..]);
                        n += take;
                        if (take < data.Length) { _headOffset += take; continue; }
                        _chunks.Dequeue();
                        _headOffset = 0;
                        c.Lease?.Unref();
                    }
                    _conn.Mux.Consume(Id, n);
                    _conn.FlushLocked();
                    return n;
                }
                if (_error is not null) throw _error;
                if (_remoteEnded || buffer.IsEmpty) return 0;
                wait = _readable.WaitAsync(cancellationToken); // armed under the lock: a wake-up after this point completes it
            }
            await wait.ConfigureAwait(false);
        }
    }

    // ------------------------------------------------------------ body and heads out

    /// <summary>Sends body bytes (waits for credit); <paramref name="endStream"/> ends our side after them.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken)
    {
        while (true)
        {
            ValueTask wait;
            lock (_conn.Gate)
            {
                if (_writeError is not null) throw _writeError;
                if (_localEnded) throw new PeerFetchException(PeerFetchError.StreamReset, $"stream {Id}: our side already ended");
                int n = _conn.Mux.SendData(Id, data.Span, endStream);
                if (n < 0) throw _writeError ?? new PeerFetchException(PeerFetchError.StreamReset, $"stream {Id} is closed");
                data = data[n..];
                if (data.IsEmpty)
                {
                    if (endStream) { _localEnded = true; _conn.OnLocalEnded(this); }
                    _conn.FlushLocked();
                    return;
                }
                _conn.FlushLocked();
                wait = _writable.WaitAsync(cancellationToken);
            }
            await wait.ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public int WriteHeaderRoom => 0; // the mux frames into channel messages of its own

    /// <inheritdoc/>
    public ValueTask<Memory<byte>> LeaseBodyAsync(int maxBody, CancellationToken cancellationToken) => ValueTask.FromResult(Memory<byte>.Empty);

    /// <inheritdoc/>
    public void CommitBody(int bodyLength, bool endStream) => throw new InvalidOperationException("a message channel lends no memory");

    /// <inheritdoc/>
    public ValueTask WriteInPlaceAsync(Memory<byte> buffer, bool endStream, CancellationToken cancellationToken)
        => WriteAsync(buffer, endStream, cancellationToken);

    /// <summary>Sends a response head, or trailers (<paramref name="endStream"/> must then be true).</summary>
    public void SendHeaders(IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream)
    {
        lock (_conn.Gate)
        {
            if (_writeError is not null) throw _writeError;
            _conn.Mux.SendHeaders(Id, fields, endStream);
            if (endStream) { _localEnded = true; _conn.OnLocalEnded(this); }
            _conn.FlushLocked();
        }
    }

    /// <inheritdoc/>
    public ValueTask SendHeadersAsync(IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream, CancellationToken cancellationToken)
    {
        SendHeaders(fields, endStream);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask SendHeadAndBodyAsync(IReadOnlyList<KeyValuePair<string, string>> head, ReadOnlyMemory<byte> body, bool endStream, CancellationToken cancellationToken)
    {
        if (body.IsEmpty)
        {
            SendHeaders(head, endStream);
            return ValueTask.CompletedTask;
        }
        lock (_conn.Gate)
        {
            // HEADERS and as much DATA as the credit allows queued under one lock, so the send loop finds them together
            // and puts them in one channel message; what the credit does not cover follows through WriteAsync.
            if (_writeError is not null) throw _writeError;
            _conn.Mux.SendHeaders(Id, head, endStream: false);
            int n = _conn.Mux.SendData(Id, body.Span, endStream);
            if (n < 0) throw _writeError ?? new PeerFetchException(PeerFetchError.StreamReset, $"stream {Id} is closed");
            if (n == body.Length)
            {
                if (endStream) { _localEnded = true; _conn.OnLocalEnded(this); }
                _conn.FlushLocked();
                return ValueTask.CompletedTask;
            }
            _conn.FlushLocked();
            body = body[n..];
        }
        return WriteAsync(body, endStream, cancellationToken);
    }

    /// <summary>Aborts the exchange both ways (no-op once it is over).</summary>
    public void Reset(PeerFetchErrorCode code = PeerFetchErrorCode.Cancel)
    {
        lock (_conn.Gate)
        {
            if (_localEnded && _remoteEnded && _error is null && _writeError is null) return;
            _conn.Mux.Reset(Id, code);
            OnReset(code, "reset locally");
            _conn.RemoveStream(Id);
            _conn.FlushLocked();
        }
    }

    /// <summary>Received body bytes (a slice of a channel message) and the lease that keeps that message's memory.</summary>
    private readonly record struct Chunk(ReadOnlyMemory<byte> Data, PeerFetchConnection.MessageLease? Lease);

    /// <summary>True when both sides ended normally.</summary>
    public bool IsComplete { get { lock (_conn.Gate) return _localEnded && _remoteEnded && _error is null && _writeError is null && _chunks.Count == 0; } }
}
