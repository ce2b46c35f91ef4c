using System.Threading.Tasks.Sources;

namespace OspBridge.Quic.Driver;

/// <summary>
/// The one reusable pending operation of a stream direction (issue 14: the stream API allocates nothing per call).
/// A <see cref="QuicStream"/> keeps one for reads and one for writes; each ReadAsync/WriteAsync takes it
/// (<see cref="TryBegin"/>: a second call while one is pending fails instead of sharing it), queues the stream's
/// loop work with the operation as the state (<c>CoreLoop.TryQueue(action, state)</c>: a struct in the loop's inbox,
/// cached delegates), and returns a <see cref="ValueTask"/> over this object. The loop completes it
/// (<see cref="TrySetResult"/>/<see cref="TrySetException"/>) exactly once; the awaiter's <c>GetResult</c> hands the
/// object back for the next call. When the operation has to wait for a readable/writable event it registers its
/// cancellation token once (<see cref="RegisterCancellation"/>); a cancellation is handed to the loop, which decides
/// what the cancelled operation returns (a read keeps bytes already copied into its buffer).
/// </summary>
/// <remarks>
/// Threads: <see cref="TryBegin"/> and the argument fields are written by the caller before it queues the loop work
/// (the inbox lock publishes them); <see cref="Waiting"/>, <see cref="Queued"/> and the arguments are then touched only
/// on the loop. Completion is guarded by an interlocked flag because it may also come from the connection's shutdown
/// after the loop stopped, or from a cancellation when the loop no longer runs.
/// </remarks>
internal sealed class StreamOperation : IValueTaskSource<int>, IValueTaskSource, IValueTaskSource<Memory<byte>>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private int _busy;     // 1 from TryBegin until the awaiter took the result
    private int _done = 1; // 1 once the current operation is completed (or none is running)
    private CancellationTokenRegistration _registration;
    private bool _registered;

    public StreamOperation(QuicStream stream) => Stream = stream;

    /// <summary>The stream this operation belongs to (the loop work's state is the operation).</summary>
    public QuicStream Stream { get; }

    /// <summary>Read: the caller's buffer (the core copies into it while the read waits).</summary>
    public Memory<byte> ReadBuffer;

    /// <summary>Write: the caller's data and how much of it the core took so far.</summary>
    public ReadOnlyMemory<byte> WriteBuffer;

    /// <summary>Write: bytes of <see cref="WriteBuffer"/> already accepted by the core.</summary>
    public int WriteOffset;

    /// <summary>Write: FIN after the data.</summary>
    public bool CompleteWrites;

    /// <summary>Lease (<see cref="QuicStream.LeaseWriteAsync"/>): most bytes to lend; 0 for a write.</summary>
    public int LeaseMax;

    /// <summary>Lease: the lent send-ring memory (set on the loop before the operation completes).</summary>
    public Memory<byte> LeaseResult;

    /// <summary>The caller's token.</summary>
    public CancellationToken Token;

    /// <summary>On the loop: the operation waits for the stream's readable/writable event.</summary>
    public bool Waiting;

    /// <summary>On the loop: a retry is queued to the loop (not queued twice).</summary>
    public bool Queued;

    /// <summary>True when no operation is pending (completed, or none started).</summary>
    public bool IsDone => Volatile.Read(ref _done) != 0;

    /// <summary>True while an operation holds this object (from <see cref="TryBegin"/> until its result was taken).</summary>
    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    /// <summary>Takes the object for a new operation; false when one is still pending (concurrent use of one direction).</summary>
    public bool TryBegin(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        _core.Reset();
        Token = token;
        Waiting = false;
        Queued = false;
        _registered = false;
        Volatile.Write(ref _done, 0);
        return true;
    }

    /// <summary>The awaitable for the operation begun last (int result: bytes read; writes ignore it).</summary>
    public ValueTask<int> AsValueTaskOfInt() => new(this, _core.Version);

    /// <summary>The awaitable for the lease begun last (<see cref="LeaseResult"/>).</summary>
    public ValueTask<Memory<byte>> AsValueTaskOfLease() => new(this, _core.Version);

    /// <summary>The awaitable for the operation begun last, without a result.</summary>
    public ValueTask AsValueTask() => new(this, _core.Version);

    /// <summary>
    /// On the loop, when the operation starts waiting: registers the token once per operation (the callback hands the
    /// cancellation to the loop through <paramref name="onCanceled"/>; with an already-cancelled token it runs at once).
    /// </summary>
    public void RegisterCancellation(Action<object?> onCanceled)
    {
        if (_registered || !Token.CanBeCanceled) return;
        _registered = true;
        _registration = Token.UnsafeRegister(onCanceled, this);
    }

    /// <summary>Completes the operation with a result; false when it was already completed.</summary>
    public bool TrySetResult(int result)
    {
        if (!Finish()) return false;
        _core.SetResult(result);
        return true;
    }

    /// <summary>Completes the operation with an exception; false when it was already completed.</summary>
    public bool TrySetException(Exception error)
    {
        if (!Finish()) return false;
        _core.SetException(error);
        return true;
    }

    /// <summary>Completes the operation as cancelled by <see cref="Token"/>; false when it was already completed.</summary>
    public bool TrySetCanceled() => TrySetException(new OperationCanceledException(Token));

    private bool Finish()
    {
        if (Interlocked.Exchange(ref _done, 1) != 0) return false;
        Waiting = false;
        Queued = false;
        if (_registered)
        {
            _registered = false;
            _registration.Unregister(); // does not wait for a running callback (it only queues loop work, which then finds the operation done)
            _registration = default;
        }
        ReadBuffer = default;
        WriteBuffer = default;
        return true;
    }

    private int TakeResult(short token)
    {
        bool current = token == _core.Version;
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (current)
            {
                Token = default;
                Volatile.Write(ref _busy, 0); // the next ReadAsync/WriteAsync may take the object now
            }
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => TakeResult(token);

    Memory<byte> IValueTaskSource<Memory<byte>>.GetResult(short token)
    {
        var lease = LeaseResult;
        LeaseResult = default;
        try
        {
            TakeResult(token);
        }
        catch
        {
            Stream.OnLeaseFailed();
            throw;
        }
        return lease;
    }

    ValueTaskSourceStatus IValueTaskSource<Memory<byte>>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<Memory<byte>>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.GetResult(short token) => TakeResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
