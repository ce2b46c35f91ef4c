using Microsoft.Extensions.Logging;
using OspBridge.Media;

namespace OspBridge.Bridge.Camera;

/// <summary>CLI glue for <c>--camera</c>.</summary>
internal static class CameraCli
{
    /// <summary>The camera service for <c>--camera &lt;source&gt;</c>, or null without the option; bad sources are CLI errors.</summary>
    public static CameraService? Create(string? source, IReadOnlyList<string>? interfaces, ILogger log,
        int maxViewers = CameraService.DefaultMaxViewers, string? talkSink = null)
    {
        if (maxViewers is < 1 or > CameraService.MaxViewersLimit)
            throw new CliException($"--max-viewers must be between 1 and {CameraService.MaxViewersLimit}");
        if (talkSink is not null && string.IsNullOrWhiteSpace(talkSink))
            throw new CliException("--talk-sink must not be empty (a file.ogg or exec:<command>)");
        if (source is null)
        {
            if (talkSink is not null)
                throw new CliException("--talk-sink needs --camera");
            return null;
        }
        if (string.IsNullOrWhiteSpace(source))
            throw new CliException("--camera must not be empty (test, exec:<command>, rtsp://…)");
        // Say it at start, not as viewers that connect and never get a frame (the test source runs ffmpeg).
        if (source.StartsWith("test", StringComparison.Ordinal) && OspBridge.Bridge.Commands.WebRtcCommand.WhyNoFfmpeg() is { } why)
            throw new CliException("--camera test: " + why);
        try
        {
            return new CameraService(source, interfaces, log, new SingleLoggerFactory(log), maxViewers, talkSink);
        }
        catch (MediaException ex)
        {
            throw new CliException($"--camera/--talk-sink: {TerminalText.Sanitize(ex.Message)}");
        }
    }

    /// <summary>Routes the media library's loggers to the command's logger.</summary>
    internal sealed class SingleLoggerFactory(ILogger log) : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => log;

        public void Dispose()
        {
        }
    }
}
