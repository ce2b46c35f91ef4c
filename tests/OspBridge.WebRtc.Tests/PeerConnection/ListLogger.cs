using Microsoft.Extensions.Logging;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>Collects log lines (for dumping when a test fails).</summary>
internal sealed class ListLogger(string name, List<string> lines) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (lines) lines.Add($"{name}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
    }
}
