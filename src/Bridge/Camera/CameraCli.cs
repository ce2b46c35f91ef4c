using Microsoft.Extensions.Logging;
using OspBridge.Media;

namespace OspBridge.Bridge.Camera;

/// <summary>CLI glue for <c>--camera</c>.</summary>
internal static class CameraCli
{
    /// <summary>The camera service for <c>--camera &lt;source&gt;</c>, or null without the option; bad sources are CLI errors.</summary>
    public static CameraService? Create(string? source, IReadOnlyList<string>? interfaces, ILogger log)
    {
        if (source is null)
            return null;
        if (string.IsNullOrWhiteSpace(source))
            throw new CliException("--camera must not be empty (test, exec:<command>, rtsp://…)");
        try
        {
            return new CameraService(source, interfaces, log, new SingleLoggerFactory(log));
        }
        catch (MediaException ex)
        {
            throw new CliException($"--camera: {TerminalText.Sanitize(ex.Message)}");
        }
    }

    /// <summary>Routes the media library's loggers to the command's logger.</summary>
    private sealed class SingleLoggerFactory(ILogger log) : ILoggerFactory
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
