using Microsoft.Extensions.Logging;
using OspBridge.Media.Formats;
using OspBridge.Media.Writers;

namespace OspBridge.Media.Sinks;

/// <summary>An Ogg Opus file; each session rewrites it from the start.</summary>
internal sealed class OggFileAudioSink(string path, ILogger? logger) : IAudioSink
{
    private int _busy;

    public string Description => path;

    public ValueTask<IAudioSinkSession?> TryOpenAsync(int channels, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            return ValueTask.FromResult<IAudioSinkSession?>(null);
        try
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
            if (logger?.IsEnabled(LogLevel.Information) == true)
                logger.LogInformation("talk-back audio to {File}", path);
            return ValueTask.FromResult<IAudioSinkSession?>(new FileSession(new OggOpusWriter(file, Math.Clamp(channels, 1, 2)), () => Volatile.Write(ref _busy, 0)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Volatile.Write(ref _busy, 0);
            throw new MediaException(MediaError.ProcessFailed, $"cannot write {path}: {ex.Message}", ex);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class FileSession(OggOpusWriter writer, Action release) : IAudioSinkSession
    {
        private int _disposed;

        public long PacketsWritten { get; private set; }

        public long PacketsDropped { get; private set; }

        public long SamplesWritten { get; private set; }

        public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> opusPacket, CancellationToken cancellationToken)
        {
            if (await writer.WriteAsync(opusPacket, cancellationToken).ConfigureAwait(false))
            {
                PacketsWritten++;
                SamplesWritten += OpusPacket.GetSampleCount(opusPacket.Span);
                return true;
            }
            PacketsDropped++;
            return false;
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            try
            {
                await writer.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                release();
            }
        }
    }
}
