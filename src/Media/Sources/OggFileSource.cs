using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// An Ogg Opus file (<c>x.ogg</c>, <c>x.opus</c>) as an audio-only source: its packets are delivered in real time (each
/// at its sample position after the start, waiting on the options' <see cref="TimeProvider"/>), once; at the end the
/// source stops by itself. Used for <c>view --talk x.ogg</c>.
/// </summary>
internal sealed class OggFileSource : MediaSourceBase
{
    private readonly string _path;
    private readonly MediaSourceOptions _options;
    private readonly ILogger _logger;
    private readonly BackgroundLoop _run = new();

    public OggFileSource(string path, MediaSourceOptions options)
    {
        _path = path;
        _options = options;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("OspBridge.Media.OggFile");
        if (!File.Exists(path))
            throw new MediaException(MediaError.UnsupportedSource, $"no such file: {path}");
        UpdateInfo(i => i with { AudioCodec = MediaCodec.Opus, AudioChannels = 2 });
    }

    /// <summary>Completes when the file was played to its end (or the source was stopped).</summary>
    public Task Completion => _run.Completion;

    public override Task StartAsync(CancellationToken cancellationToken) => StartOn(_run, PlayAsync);

    public override Task StopAsync(CancellationToken cancellationToken) => StopOnAsync(_run);

    private async Task PlayAsync(CancellationToken ct)
    {
        var time = _options.TimeProvider;
        var reader = new OggOpusReader();
        var buffer = new byte[16 * 1024];
        long start = time.GetTimestamp();
        try
        {
            var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, useAsync: true);
            await using var fileOwner = file.ConfigureAwait(false);
            var pending = new List<(byte[] Packet, long Position)>();
            while (true)
            {
                int n = await file.ReadAsync(buffer, ct).ConfigureAwait(false);
                if (n == 0)
                    break;
                int at = 0;
                while (at < n)
                {
                    at += reader.Write(buffer.AsSpan(at, n - at));
                    pending.Clear();
                    while (reader.TryRead(out var packet, out long position))
                        pending.Add((packet.ToArray(), position));
                    foreach (var (packet, position) in pending)
                    {
                        var due = TimeSpan.FromTicks(position * TimeSpan.TicksPerSecond / 48000);
                        var wait = due - time.GetElapsedTime(start);
                        if (wait > TimeSpan.Zero)
                            await Task.Delay(wait, time, ct).ConfigureAwait(false);
                        Deliver(new EncodedFrame(MediaCodec.Opus, packet, due, true));
                    }
                }
            }
            if (_logger.IsEnabled(LogLevel.Information))
                _logger.LogInformation("{File} played to its end", _path);
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException ex)
        {
            SetState(MediaSourceState.Stopped, new MediaException(MediaError.ProcessFailed, $"{_path}: {ex.Message}", ex));
            return;
        }
        SetState(MediaSourceState.Stopped);
    }
}
