using System.Diagnostics;
using System.Text;

namespace OspBridge.Testing.Processes;

/// <summary>
/// A running <c>ospbridge</c> child process (agent, pair, serve...) with stdin open and stdout captured line by line.
/// Disposing sends SIGTERM, waits up to 5 s, then kills the tree. Shared by the Bridge tests and the bench.
/// </summary>
public sealed class CliChild : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();
    private readonly SemaphoreSlim _lineArrived = new(0);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliChild(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    public string Description { get; }

    public IReadOnlyList<string> Lines { get { lock (_gate) return _stdout.ToArray(); } }

    public string StandardError { get { lock (_gate) return _stderr.ToString(); } }

    public bool HasExited => _process.HasExited;

    /// <summary>The child's process id (for /proc figures).</summary>
    public int ProcessId => _process.Id;

    public int ExitCode => _process.ExitCode;

    public static CliChild Start(params string[] args)
    {
        var p = new Process { StartInfo = CliProcess.StartInfo(args), EnableRaisingEvents = true };
        var child = new CliChild(p, "ospbridge " + string.Join(' ', args));
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { child._stdoutClosed.TrySetResult(); child._lineArrived.Release(); return; }
            lock (child._gate) child._stdout.Add(e.Data);
            child._lineArrived.Release();
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { child._stderrClosed.TrySetResult(); return; }
            lock (child._gate) child._stderr.AppendLine(e.Data);
        };
        if (!p.Start()) throw new InvalidOperationException("could not start " + child.Description);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>
    /// Starts <c>ospbridge serve</c> on 127.0.0.1 (any free port, devices discovered on lo, state in
    /// <paramref name="stateDir"/>, plus <paramref name="extra"/> options) and waits for its <c>listening on</c> and
    /// <c>admin</c> lines; returns the child and the URL it listens on.
    /// </summary>
    public static async Task<(CliChild Child, Uri Url)> StartServeAsync(string stateDir, TimeSpan timeout, params string[] extra)
    {
        var serve = Start(["serve", "--bind", "127.0.0.1", "--port", "0", "--interface", "lo", "--state-dir", stateDir, .. extra]);
        try
        {
            var (line, _) = await serve.WaitForLineAsync(l => l.StartsWith("listening on ", StringComparison.Ordinal), timeout);
            var url = new Uri(line["listening on ".Length..]);
            await serve.WaitForLineAsync(l => l.StartsWith("admin ", StringComparison.Ordinal), timeout);
            return (serve, url);
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts <c>ospbridge agent</c> named <paramref name="name"/> that accepts every pairing (<c>--accept-all</c>), on
    /// lo, state in <paramref name="stateDir"/>, plus <paramref name="extra"/> options (<c>--camera test</c>,
    /// <c>--http-origin</c> ...), and waits for its <c>agent</c> line.
    /// </summary>
    public static async Task<CliChild> StartAgentAsync(string name, string stateDir, TimeSpan timeout, params string[] extra)
    {
        var agent = Start(["agent", "--name", name, "--accept-all", "--interface", "lo", "--state-dir", stateDir, .. extra]);
        try
        {
            await agent.WaitForLineAsync(l => l.StartsWith("agent ", StringComparison.Ordinal), timeout);
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Writes one line to the child's stdin.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Closes the child's stdin (end of input).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for a stdout line at index ≥ <paramref name="from"/> that satisfies <paramref name="predicate"/>.</summary>
    public async Task<(string Line, int Index)> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, int from = 0)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            string[] lines;
            lock (_gate) lines = _stdout.ToArray();
            for (int i = from; i < lines.Length; i++)
                if (predicate(lines[i])) return (lines[i], i);
            if (_stdoutClosed.Task.IsCompleted)
                throw new TimeoutException($"{Description} ended its output before the expected line.\nstdout:\n{string.Join('\n', lines)}\nstderr:\n{StandardError}");
            var left = timeout - sw.Elapsed;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"{Description}: expected line not seen within {timeout}.\nstdout:\n{string.Join('\n', lines)}\nstderr:\n{StandardError}");
            await _lineArrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Waits for exit and the end of both output streams; returns (exit code, stdout, stderr).</summary>
    public async Task<(int ExitCode, string StdOut, string StdErr)> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Description} did not exit within {timeout}.\nstdout:\n{string.Join('\n', Lines)}\nstderr:\n{StandardError}");
        }
        await Task.WhenAny(Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task), Task.Delay(2000));
        return (_process.ExitCode, string.Join('\n', Lines), StandardError);
    }

    /// <summary>SIGTERM (the agent's graceful stop: goodbyes).</summary>
    public void Terminate()
    {
        if (_process.HasExited) return;
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
        kill?.WaitForExit(5000);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Terminate();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try { await _process.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
        }
        finally
        {
            _process.Dispose();
            _lineArrived.Dispose();
        }
    }
}
