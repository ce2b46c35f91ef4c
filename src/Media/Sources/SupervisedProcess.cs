using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace OspBridge.Media.Sources;

/// <summary>
/// Runs a child process (no shell), hands its stdout bytes to a callback, logs its stderr lines, and restarts it with
/// back-off (1, 2, 4 ... 30 s; reset after 30 s of good running) whenever it exits, until stopped. The process tree is
/// killed on stop.
/// </summary>
internal sealed class SupervisedProcess : IAsyncDisposable
{
    private static readonly TimeSpan GoodRun = TimeSpan.FromSeconds(30);
    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly ILogger _logger;
    private readonly MediaSourceOptions _options;
    private readonly Action _onStart;
    private readonly Action<ReadOnlySpan<byte>> _onData;
    private readonly Action<Exception?> _onExit;
    private readonly BackgroundLoop _loop = new();
    private Process? _process;

    public SupervisedProcess(string fileName, IReadOnlyList<string> arguments, MediaSourceOptions options, ILogger logger, Action onStart, Action<ReadOnlySpan<byte>> onData, Action<Exception?> onExit)
    {
        _fileName = fileName;
        _arguments = arguments;
        _options = options;
        _logger = logger;
        _onStart = onStart;
        _onData = onData;
        _onExit = onExit;
    }

    /// <summary>Times the process was (re)started.</summary>
    public int Starts { get; private set; }

    public void Start() => _loop.Start(RunAsync);

    public Task StopAsync() => _loop.StopAsync(KillCurrent);

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(_options.InitialBackoff, _options.MaxBackoff);
        var buffer = new byte[64 * 1024];
        while (!cancellationToken.IsCancellationRequested)
        {
            long started = _options.TimeProvider.GetTimestamp();
            Exception? failure = null;
            try
            {
                var psi = new ProcessStartInfo(_fileName)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    RedirectStandardInput = true,
                    UseShellExecute = false,
                };
                foreach (string a in _arguments)
                    psi.ArgumentList.Add(a);
                using var process = Process.Start(psi) ?? throw new MediaException(MediaError.ProcessFailed, $"could not start {_fileName}");
                _process = process;
                Starts++;
                if (_logger.IsEnabled(LogLevel.Information))
                    _logger.LogInformation("started {File} (pid {Pid})", _fileName, process.Id);
                _onStart();
                var stderr = PumpStderrAsync(process, cancellationToken);
                var stdout = process.StandardOutput.BaseStream;
                while (true)
                {
                    int n = await stdout.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                        break;
                    _onData(buffer.AsSpan(0, n));
                }
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                await stderr.ConfigureAwait(false);
                failure = new MediaException(MediaError.ProcessFailed, $"{_fileName} exited with code {process.ExitCode}");
                if (_logger.IsEnabled(LogLevel.Warning))
                    _logger.LogWarning("{File} exited with code {Code}", _fileName, process.ExitCode);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                KillCurrent();
                return;
            }
            catch (Exception ex) when (ex is MediaException or System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                failure = ex is MediaException ? ex : new MediaException(MediaError.ProcessFailed, $"{_fileName}: {ex.Message}", ex);
                if (_logger.IsEnabled(LogLevel.Warning))
                    _logger.LogWarning("{File} failed: {Message}", _fileName, ex.Message);
            }
            finally
            {
                KillCurrent();
                _process = null;
            }
            if (_options.TimeProvider.GetElapsedTime(started) >= GoodRun)
                backoff.Reset();
            _onExit(failure);
            var delay = backoff.Next();
            if (_logger.IsEnabled(LogLevel.Information))
                _logger.LogInformation("restarting {File} in {Delay}", _fileName, delay);
            try
            {
                await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task PumpStderrAsync(Process process, CancellationToken cancellationToken)
    {
        try
        {
            int lines = 0;
            while (await process.StandardError.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (lines++ < 10_000 && _logger.IsEnabled(LogLevel.Information))
                    _logger.LogInformation("[{File}] {Line}", Path.GetFileName(_fileName), line.Length > 500 ? line[..500] : line);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
        }
    }

    private void KillCurrent()
    {
        try
        {
            var p = _process;
            if (p is not null && !p.HasExited)
                p.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
        }
    }
}
