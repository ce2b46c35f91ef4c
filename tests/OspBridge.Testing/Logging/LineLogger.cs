using Microsoft.Extensions.Logging;

namespace OspBridge.Testing.Logging;

/// <summary>An <see cref="ILogger"/> for tests: hands each formatted line (with an optional prefix) to a callback.</summary>
public sealed class LineLogger(Action<string> sink, string prefix = "") : ILogger
{
    /// <summary>A logger that appends lines to <paramref name="lines"/> (under a lock on the list).</summary>
    public static LineLogger To(List<string> lines, string prefix = "") =>
        new(l => { lock (lines) lines.Add(l); }, prefix);

    /// <inheritdoc/>
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <inheritdoc/>
    public bool IsEnabled(LogLevel logLevel) => true;

    /// <inheritdoc/>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        sink(prefix + formatter(state, exception) + (exception is null ? "" : " " + exception.Message));
    }
}
