using System.Diagnostics.CodeAnalysis;

namespace OspBridge.Media.Sources;

/// <summary>
/// One background task and the cancellation that ends it, as the sources and the process supervisor run it: started at
/// most once (again only after a stop), stopped by cancelling and awaiting the task (an
/// <see cref="OperationCanceledException"/> from it is the expected end, not an error).
/// </summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The token source lives from Start to StopAsync, which cancels and disposes it; every owner's DisposeAsync calls StopAsync.")]
internal sealed class BackgroundLoop
{
    private CancellationTokenSource? _cts;
    private Task? _task;

    /// <summary>True from <see cref="Start"/> until <see cref="StopAsync"/> completes.</summary>
    public bool IsRunning => _task is not null;

    /// <summary>The running task, or a completed one when not running.</summary>
    public Task Completion => _task ?? Task.CompletedTask;

    /// <summary>Runs <paramref name="body"/> on the thread pool with a fresh token; does nothing when already running.</summary>
    public void Start(Func<CancellationToken, Task> body)
    {
        if (_task is not null)
            return;
        _cts = new CancellationTokenSource();
        var token = _cts.Token;
        _task = Task.Run(() => body(token), CancellationToken.None);
    }

    /// <summary>
    /// Cancels the task, calls <paramref name="afterCancel"/> (e.g. to kill a child process the task waits on), awaits
    /// the task and forgets it. Returns false when nothing was running.
    /// </summary>
    public async Task<bool> StopAsync(Action? afterCancel = null)
    {
        if (_task is null)
            return false;
        await _cts!.CancelAsync().ConfigureAwait(false);
        afterCancel?.Invoke();
        try
        {
            await _task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
        _cts = null;
        _task = null;
        return true;
    }
}
