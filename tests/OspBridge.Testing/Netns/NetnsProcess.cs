using System.Diagnostics;
using System.Text;

namespace OspBridge.Testing.Netns;

/// <summary>
/// A long-running process (started with <see cref="NetnsHost.Start"/>), with its stdout/stderr captured line
/// by line. Because <c>ip netns exec</c> execs the command in place, <see cref="Pid"/> is the command's own
/// pid, so <see cref="Signal"/> reaches it directly (SIGTERM for a graceful stop, SIGKILL for a crash).
/// Disposing sends SIGTERM, waits up to 3 s, then SIGKILLs.
/// </summary>
public sealed class NetnsProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private event Action? LineArrived;

    internal NetnsProcess(ProcessStartInfo psi, string description)
    {
        Description = description;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _stdoutClosed.TrySetResult(); return; }
            lock (_gate) _stdout.Add(e.Data);
            LineArrived?.Invoke();
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { _stderrClosed.TrySetResult(); return; }
            lock (_gate) _stderr.AppendLine(e.Data);
            LineArrived?.Invoke();
        };
        if (!_process.Start()) throw new InvalidOperationException($"could not start {description}");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Pid = _process.Id;
    }

    /// <summary>What was started (for messages).</summary>
    public string Description { get; }

    /// <summary>The pid of the command (not of a wrapper).</summary>
    public int Pid { get; }

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Exit code (valid after exit).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>A snapshot of the stdout lines so far.</summary>
    public IReadOnlyList<string> StandardOutputLines { get { lock (_gate) return _stdout.ToArray(); } }

    /// <summary>Everything written to stderr so far.</summary>
    public string StandardError { get { lock (_gate) return _stderr.ToString(); } }

    /// <summary>Sends a signal (e.g. 15 = SIGTERM, 9 = SIGKILL, 2 = SIGINT) to the process.</summary>
    public void Signal(int signal)
    {
        if (_process.HasExited) return;
        LibC.kill(Pid, signal);
    }

    /// <summary>
    /// Waits until some stdout line satisfies <paramref name="predicate"/>; returns it. Throws
    /// <see cref="TimeoutException"/> (with the output so far) after <paramref name="timeout"/> or when the
    /// process exits first.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, CancellationToken ct = default)
    {
        var signal = new SemaphoreSlim(0);
        void OnLine() => signal.Release();
        LineArrived += OnLine;
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            int checkedCount = 0;
            while (true)
            {
                string[] lines;
                lock (_gate) lines = _stdout.ToArray();
                for (; checkedCount < lines.Length; checkedCount++)
                    if (predicate(lines[checkedCount])) return lines[checkedCount];
                if (_process.HasExited && _stdoutClosed.Task.IsCompleted)
                    throw new TimeoutException($"{Description} exited ({_process.ExitCode}) before the expected output. stdout:\n{string.Join('\n', lines)}\nstderr:\n{StandardError}");
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException($"{Description}: expected output not seen within {timeout}. stdout:\n{string.Join('\n', lines)}\nstderr:\n{StandardError}");
                await signal.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            LineArrived -= OnLine;
        }
    }

    /// <summary>Waits for the process to exit; returns false if it did not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task), Task.Delay(1000)).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM, up to 3 s grace, then SIGKILL; releases the process handle.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Signal(LibC.SIGTERM);
                if (!await WaitForExitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false))
                {
                    Signal(LibC.SIGKILL);
                    await WaitForExitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    internal static async Task<ProcessResult> RunToEndAsync(ProcessStartInfo psi, TimeSpan timeout, CancellationToken ct)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        using var p = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        bool timedOut = false;
        try
        {
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await p.WaitForExitAsync(grace.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            ct.ThrowIfCancellationRequested();
        }
        if (!timedOut) p.WaitForExit(); // flush async output readers
        string o, e;
        lock (stdout) o = stdout.ToString();
        lock (stderr) e = stderr.ToString();
        return new ProcessResult(timedOut ? -1 : p.ExitCode, o, e, timedOut);
    }
}
