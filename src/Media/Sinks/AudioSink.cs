using Microsoft.Extensions.Logging;
using OspBridge.Media.Sources;

namespace OspBridge.Media.Sinks;

/// <summary>
/// Where received audio (a controller's talk-back) goes: an Ogg Opus file or an <c>exec:</c> child process fed Ogg
/// Opus on its stdin. A sink is a speaker: one talk-back session holds it at a time (<see cref="TryOpenAsync"/> returns
/// null while another session has it open); each session gets a new Ogg Opus stream.
/// </summary>
public interface IAudioSink : IAsyncDisposable
{
    /// <summary>What the sink is (for logs), e.g. the file name or the command.</summary>
    string Description { get; }

    /// <summary>Opens the sink for one session, or returns null when another session holds it.</summary>
    /// <param name="channels">1 or 2 (the Ogg Opus header's channel count).</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    ValueTask<IAudioSinkSession?> TryOpenAsync(int channels, CancellationToken cancellationToken);
}

/// <summary>One session's output on an <see cref="IAudioSink"/>; disposing it ends the Ogg stream and frees the sink.</summary>
public interface IAudioSinkSession : IAsyncDisposable
{
    /// <summary>Opus packets written.</summary>
    long PacketsWritten { get; }

    /// <summary>Opus packets dropped (malformed, or the child process was being restarted).</summary>
    long PacketsDropped { get; }

    /// <summary>48 kHz samples written.</summary>
    long SamplesWritten { get; }

    /// <summary>Writes one Opus packet; false when it was dropped.</summary>
    ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> opusPacket, CancellationToken cancellationToken);
}

/// <summary>Creates sinks from their CLI form.</summary>
public static class AudioSink
{
    /// <summary>
    /// <c>exec:&lt;command line&gt;</c> (argv split by <see cref="CommandLine"/>, no shell; Ogg Opus on its stdin,
    /// restarted with back-off when it exits mid-session, stderr to the log) or a file path (an Ogg Opus file,
    /// rewritten by each session). Throws <see cref="MediaException"/> for an empty command.
    /// </summary>
    public static IAudioSink Create(string spec, MediaSourceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new MediaSourceOptions();
        if (spec.StartsWith("exec:", StringComparison.Ordinal))
        {
            var argv = CommandLine.Split(spec["exec:".Length..]);
            if (argv.Count == 0)
                throw new MediaException(MediaError.UnsupportedSource, "exec: needs a command");
            return new ExecAudioSink(argv, options);
        }
        if (string.IsNullOrWhiteSpace(spec))
            throw new MediaException(MediaError.UnsupportedSource, "the audio sink needs a file name or exec:<command>");
        return new OggFileAudioSink(Path.GetFullPath(spec), options.LoggerFactory?.CreateLogger("OspBridge.Media.AudioSink"));
    }
}
