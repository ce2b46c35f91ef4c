using Microsoft.Extensions.Logging;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>An <see cref="ILogger"/> that hands each formatted line to a callback (test logs).</summary>
internal sealed class LineLogger(Action<string> sink) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        sink(formatter(state, exception) + (exception is null ? "" : " " + exception.Message));
}
