namespace OspBridge.Quic.Driver;

/// <summary>
/// An awaitable edge owned by one connection loop: both <see cref="Wait"/> (taken by an API call running on the
/// loop, after it found its condition unmet) and <see cref="Set"/> (from a core event on the loop) run on that
/// loop, so no lock is needed. Continuations run asynchronously, never inline on the loop.
/// </summary>
internal sealed class LoopSignal
{
    private TaskCompletionSource? _tcs;

    public Task Wait() => (_tcs ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Set()
    {
        var t = _tcs;
        _tcs = null;
        t?.TrySetResult();
    }
}
