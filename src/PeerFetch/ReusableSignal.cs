using System.Threading.Tasks.Sources;

namespace OspBridge.PeerFetch;

/// <summary>
/// A wake-up for one waiter at a time that allocates nothing per wait (unlike a <see cref="TaskCompletionSource"/> per
/// wait): <see cref="WaitAsync"/> arms it and returns a <see cref="ValueTask"/> over a reused
/// <see cref="ManualResetValueTaskSourceCore{TResult}"/>; <see cref="Set"/> completes the armed wait (a no-op when nobody
/// waits); cancellation completes it with <see cref="OperationCanceledException"/>. Whichever comes first wins (one
/// interlocked exchange), continuations run asynchronously (never inside the caller's lock).
/// </summary>
/// <remarks>
/// The owner calls <see cref="WaitAsync"/> and <see cref="Set"/> under its own lock so that a wake-up cannot fall between
/// "nothing to do" and "armed"; one waiter at a time (a second concurrent <see cref="WaitAsync"/> throws — streams do not
/// support concurrent reads or concurrent writes).
/// </remarks>
internal sealed class ReusableSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;
    private int _armed;
    private int _busy;

    /// <summary>True while a wait is armed and not yet completed.</summary>
    public bool IsWaiting => Volatile.Read(ref _armed) != 0;

    /// <summary>Arms the signal; the returned task completes at the next <see cref="Set"/> or when <paramref name="cancellationToken"/> fires.</summary>
    /// <exception cref="InvalidOperationException">Another wait is still outstanding.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0) throw new InvalidOperationException("concurrent waits on one PeerFetch stream direction");
        _core.Reset();
        short version = _core.Version;
        Volatile.Write(ref _armed, 1);
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var self = (ReusableSignal)state!;
                if (Interlocked.Exchange(ref self._armed, 0) != 0) self._core.SetException(new OperationCanceledException(token));
            }, this);
        }

        return new ValueTask(this, version);
    }

    /// <summary>Completes the armed wait, if any.</summary>
    public void Set()
    {
        if (Interlocked.Exchange(ref _armed, 0) != 0) _core.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _registration.Dispose();
            _registration = default;
            Volatile.Write(ref _busy, 0);
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
