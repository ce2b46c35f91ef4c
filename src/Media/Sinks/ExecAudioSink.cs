using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Media.Formats;
using OspBridge.Media.Sources;
using OspBridge.Media.Writers;

namespace OspBridge.Media.Sinks;

/// <summary>
/// <c>exec:&lt;command&gt;</c>: for each session the command is started (no shell) and fed an Ogg Opus stream on its
/// stdin; stdin is closed at the session's end and the process gets 2 s to exit before it is killed. When the process
/// exits mid-session it is restarted with back-off (1, 2, 4 … 30 s, from the options) and a new Ogg stream begins;
/// packets arriving meanwhile are dropped and counted. stderr lines go to the log.
/// </summary>
internal sealed class ExecAudioSink(IReadOnlyList<string> argv, MediaSourceOptions options) : IAudioSink
{
    private readonly IReadOnlyList<string> _argv = argv;
    private readonly MediaSourceOptions _options = options;
    private readonly ILogger _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("OspBridge.Media.ExecSink");
    private int _busy;

    public string Description => "exec:" + string.Join(' ', _argv);

    public ValueTask<IAudioSinkSession?> TryOpenAsync(int channels, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            return ValueTask.FromResult<IAudioSinkSession?>(null);
        var stream = new Session(this, Math.Clamp(channels, 1, 2));
        stream.TryStart();
        return ValueTask.FromResult<IAudioSinkSession?>(stream);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Session(ExecAudioSink sink, int channels) : IAudioSinkSession
    {
        private readonly Backoff _backoff = new(sink._options.InitialBackoff, sink._options.MaxBackoff);
        private Process? _process;
        private OggOpusWriter? _writer;
        private Task _stderr = Task.CompletedTask;
        private long _retryAt;
        private int _disposed;

        /// <summary>Times the command was started in this session.</summary>
        public int Starts { get; private set; }

        public long PacketsWritten { get; private set; }

        public long PacketsDropped { get; private set; }

        public long SamplesWritten { get; private set; }

        public bool TryStart()
        {
            var time = sink._options.TimeProvider;
            try
            {
                var psi = new ProcessStartInfo(sink._argv[0])
                {
                    RedirectStandardInput = true,
                    RedirectStandardError = true,
                    RedirectStandardOutput = false,
                    UseShellExecute = false,
                };
                foreach (string a in sink._argv.Skip(1))
                    psi.ArgumentList.Add(a);
                var p = Process.Start(psi) ?? throw new InvalidOperationException("no process");
                _process = p;
                Starts++;
                _writer = new OggOpusWriter(p.StandardInput.BaseStream, channels);
                _stderr = PumpStderrAsync(p);
                if (sink._logger.IsEnabled(LogLevel.Information))
                    sink._logger.LogInformation("talk-back sink started {File} (pid {Pid})", sink._argv[0], p.Id);
                return true;
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                if (sink._logger.IsEnabled(LogLevel.Warning))
                    sink._logger.LogWarning("talk-back sink {File} failed to start: {Error}", sink._argv[0], ex.Message);
                ScheduleRetry(time);
                return false;
            }
        }

        private void ScheduleRetry(TimeProvider time)
        {
            var delay = _backoff.Next();
            _retryAt = time.GetTimestamp() + (long)(delay.TotalSeconds * time.TimestampFrequency);
            if (sink._logger.IsEnabled(LogLevel.Information))
                sink._logger.LogInformation("restarting talk-back sink {File} in {Delay}", sink._argv[0], delay);
        }

        public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> opusPacket, CancellationToken cancellationToken)
        {
            var time = sink._options.TimeProvider;
            if (_writer is null && (time.GetTimestamp() < _retryAt || !TryStart()))
            {
                PacketsDropped++;
                return false;
            }
            try
            {
                if (!await _writer!.WriteAsync(opusPacket, cancellationToken).ConfigureAwait(false))
                {
                    PacketsDropped++;
                    return false;
                }
                await _process!.StandardInput.BaseStream.FlushAsync(cancellationToken).ConfigureAwait(false);
                PacketsWritten++;
                SamplesWritten += OpusPacket.GetSampleCount(opusPacket.Span);
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                PacketsDropped++;
                int code = -1;
                try
                {
                    if (_process!.WaitForExit(500))
                        code = _process.ExitCode;
                }
                catch (InvalidOperationException)
                {
                }
                if (sink._logger.IsEnabled(LogLevel.Warning))
                    sink._logger.LogWarning("talk-back sink {File} went away (exit code {Code}): {Error}", sink._argv[0], code, ex.Message);
                await StopProcessAsync(graceful: false).ConfigureAwait(false);
                ScheduleRetry(time);
                return false;
            }
        }

        private async Task StopProcessAsync(bool graceful)
        {
            var p = _process;
            var w = _writer;
            _process = null;
            _writer = null;
            if (p is null)
                return;
            if (graceful && w is not null)
            {
                try
                {
                    await w.DisposeAsync().ConfigureAwait(false); // EOS page, closes stdin
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                }
            }
            try
            {
                if (!graceful || !await WaitExitAsync(p, TimeSpan.FromSeconds(2)).ConfigureAwait(false))
                    p.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
            {
            }
            try
            {
                await _stderr.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            p.Dispose();
        }

        private static async Task<bool> WaitExitAsync(Process p, TimeSpan timeout)
        {
            try
            {
                await p.WaitForExitAsync(CancellationToken.None).WaitAsync(timeout).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        private async Task PumpStderrAsync(Process process)
        {
            try
            {
                int lines = 0;
                while (await process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
                {
                    if (lines++ < 10_000 && sink._logger.IsEnabled(LogLevel.Information))
                        sink._logger.LogInformation("[{File}] {Line}", Path.GetFileName(sink._argv[0]), line.Length > 500 ? line[..500] : line);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            try
            {
                await StopProcessAsync(graceful: true).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref sink._busy, 0);
            }
        }
    }
}
