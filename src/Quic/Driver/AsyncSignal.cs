namespace OspBridge.Quic.Driver;

/// <summary>
/// Edge-triggered async signal: callers take <see cref="WaitTask"/> before checking their condition, and
/// await it if the condition is not met; <see cref="Set"/> completes the current waiters.
/// </summary>
internal sealed class AsyncSignal
{
    private readonly object _lock = new();
    private TaskCompletionSource? _tcs;

    public Task WaitTask()
    {
        lock (_lock) return (_tcs ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    public void Set()
    {
        TaskCompletionSource? t;
        lock (_lock) { t = _tcs; _tcs = null; }
        t?.TrySetResult();
    }
}
