using System.Diagnostics;
using System.Reflection;

namespace OspBridge.Bridge.Demo;

/// <summary>
/// A child process of the demo (the device agent, or Chromium) whose stdout lines are kept, optionally echoed with a
/// prefix, and waited for. Killed (with its process tree) on dispose.
/// </summary>
internal sealed class DemoProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly string? _echoPrefix;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DemoProcess(Process process, string? echoPrefix)
    {
        _process = process;
        _echoPrefix = echoPrefix;
    }

    /// <summary>The command line that started ospbridge itself: the apphost, or <c>dotnet ospbridge.dll</c>.</summary>
    public static (string FileName, string[] Prefix) Self()
    {
        string exe = Environment.ProcessPath ?? throw new CliException("cannot find this program's path to start the demo device");
        return Path.GetFileNameWithoutExtension(exe) == "dotnet"
            ? (exe, [Assembly.GetEntryAssembly()?.Location ?? typeof(DemoProcess).Assembly.Location])
            : (exe, []);
    }

    /// <summary>Starts <paramref name="fileName"/>; stdout lines are echoed as <c>prefix line</c> when <paramref name="echoPrefix"/> is set.</summary>
    public static DemoProcess Start(string fileName, IEnumerable<string> arguments, string? echoPrefix)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) psi.ArgumentList.Add(a);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var p = new DemoProcess(process, echoPrefix);
        process.OutputDataReceived += (_, e) => p.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (p._gate)
            {
                if (p._stderr.Length < 256 * 1024) p._stderr.AppendLine(e.Data);
            }
        };
        process.Exited += (_, _) => p._exited.TrySetResult();
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new CliException($"cannot start {fileName}: {ex.Message}");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return p;
    }

    /// <summary>Raised for every stdout line (on the reader's thread).</summary>
    public event Action<string>? LineReceived;

    /// <summary>True once the process exited.</summary>
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Its stderr so far (bounded).</summary>
    public string StandardError
    {
        get { lock (_gate) return _stderr.ToString(); }
    }

    /// <summary>Its stdout lines so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get { lock (_gate) return [.. _lines]; }
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        List<TaskCompletionSource<string>> done = [];
        lock (_gate)
        {
            if (_lines.Count < 10_000) _lines.Add(line);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(line))
                {
                    done.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }
        if (_echoPrefix is not null) DemoOutput.Line($"{_echoPrefix}{TerminalText.Sanitize(line)}");
        LineReceived?.Invoke(line);
        foreach (var d in done) d.TrySetResult(line);
    }

    /// <summary>The first stdout line (already printed or to come) matching <paramref name="match"/>; fails when the process exits or after <paramref name="timeout"/>.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (string l in _lines)
                if (match(l)) return l;
            _waiters.Add((match, tcs));
        }
        var exited = _exited.Task;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        var cancelled = Task.Delay(Timeout.InfiniteTimeSpan, timer.Token);
        var first = await Task.WhenAny(tcs.Task, exited, cancelled).ConfigureAwait(false);
        if (first == tcs.Task) return await tcs.Task.ConfigureAwait(false);
        lock (_gate) _waiters.RemoveAll(w => w.Done == tcs);
        cancellationToken.ThrowIfCancellationRequested();
        if (first == exited) throw new CliException($"{what}: the process exited ({_process.ExitCode}) first; stderr: {CliErrors.OneLine(Tail(StandardError))}");
        throw new CliException($"{what}: not seen within {timeout.TotalSeconds:0} s");
    }

    private static string Tail(string text) => text.Length <= 600 ? text : "…" + text[^600..];

    /// <summary>Asks the process to stop (SIGTERM), then kills it after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (HasExited) return;
        try
        {
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false });
            }
            else
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            _process.Kill(entireProcessTree: true);
        }
        try { await _exited.Task.WaitAsync(grace).ConfigureAwait(false); }
        catch (TimeoutException)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        try { await _exited.Task.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch (TimeoutException) { }
        _process.Dispose();
    }
}

/// <summary>The demo's stdout (one lock so lines of the device, the browser and the story never interleave).</summary>
internal static class DemoOutput
{
    public static void Line(string text)
    {
        lock (Console.Out)
        {
            Console.Out.WriteLine(text);
            Console.Out.Flush();
        }
    }

    public static void Step(string text) => Line($"\n== {text}");

    public static void Info(string text) => Line("   " + text);
}

