using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace OspBridge.Bridge;

/// <summary>
/// One top-level CLI command. Every command lives in its own file under Commands/ and is found by
/// reflection, so features add commands without editing a shared registration list.
/// </summary>
internal interface ICliCommand
{
    /// <summary>Builds the command (with its sub-commands, options and action).</summary>
    Command Build(CliContext context);
}

/// <summary>Options and services shared by all commands.</summary>
internal sealed class CliContext : IDisposable
{
    private ILoggerFactory? _loggerFactory;

    /// <summary><c>-v/--verbose</c>: debug logging (recursive: valid on every command).</summary>
    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Log debug details to stderr",
        Recursive = true,
    };

    /// <summary><c>--state-dir</c>: where the agent identity and trust store live (recursive).</summary>
    public Option<DirectoryInfo?> StateDir { get; } = new("--state-dir")
    {
        Description = "State directory (default: $XDG_DATA_HOME/ospbridge or ~/.local/share/ospbridge)",
        Recursive = true,
    };

    /// <summary>Set when SIGINT/SIGTERM arrived: a cancellation then means "interrupted" (exit 130), not a failure.</summary>
    public bool Interrupted { get; set; }

    /// <summary>
    /// How long the command may unwind after SIGINT/SIGTERM before the process exits with 130 anyway (default 1 s:
    /// enough to reset a request and close a session on the wire). Long-running servers with their own orderly
    /// shutdown (goodbyes, closing every session) raise it to <see cref="ServerInterruptGrace"/>.
    /// </summary>
    public TimeSpan InterruptGrace { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The <see cref="InterruptGrace"/> of <c>agent</c>, <c>serve</c>, <c>advertise</c> and <c>demo</c>.</summary>
    public static readonly TimeSpan ServerInterruptGrace = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Creates a logger factory honouring <c>-v</c>; logs go to stderr so stdout stays machine-readable. Without
    /// <c>-v</c> only warnings and errors are logged, so a failing command prints just its one error line. Every
    /// message is sanitised (<see cref="TerminalText"/>): log lines can carry names and reasons from the network.
    /// </summary>
    public ILoggerFactory CreateLoggerFactory(ParseResult parseResult)
    {
        bool verbose = parseResult.GetValue(Verbose);
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning);
            b.AddConsole(o =>
            {
                o.LogToStandardErrorThreshold = LogLevel.Trace;
                o.FormatterName = SanitizingConsoleFormatter.FormatterName;
            });
            b.AddConsoleFormatter<SanitizingConsoleFormatter, ConsoleFormatterOptions>();
            b.AddFilter("Microsoft", LogLevel.Warning);
        });
    }

    /// <summary>
    /// A logger of <paramref name="category"/> for library APIs that take an <see cref="ILogger"/>: warnings and
    /// information always reach stderr, debug details only with <c>-v</c>.
    /// </summary>
    public ILogger Logger(ParseResult parseResult, string category)
    {
        _loggerFactory ??= CreateLoggerFactory(parseResult);
        return _loggerFactory.CreateLogger(category);
    }

    /// <summary>Flushes and releases the logger factory.</summary>
    public void Dispose() => _loggerFactory?.Dispose();

    /// <summary>Refuses a <c>--state-dir</c> that names something other than a directory.</summary>
    public void ValidateStateDirectory(ParseResult parseResult)
    {
        if (parseResult.GetValue(StateDir) is { } dir && File.Exists(dir.FullName))
            throw new CliException($"--state-dir {dir.FullName}: is a file, not a directory");
    }

    /// <summary>The effective state directory: <c>--state-dir</c> (which must not name a file) or the XDG default.</summary>
    public string GetStateDirectory(ParseResult parseResult)
    {
        var dir = parseResult.GetValue(StateDir);
        if (dir is not null)
        {
            if (File.Exists(dir.FullName)) throw new CliException($"--state-dir {dir.FullName}: is a file, not a directory");
            return dir.FullName;
        }
        string? xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(xdg))
            xdg = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(xdg, "ospbridge");
    }
}

/// <summary>Thrown by command actions for a user-facing one-line error (exit code 1).</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>
/// One line per log entry, <c>HH:mm:ss.fff level: category[id] message</c>, with the message and any exception
/// message sanitised and kept on that line (no stack trace; use <c>-v</c> for the exception's type).
/// </summary>
internal sealed class SanitizingConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "ospbridge";

    public override void Write<TState>(in LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string? message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null) return;
        string level = logEntry.LogLevel switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            LogLevel.Critical => "crit",
            _ => "none",
        };
        string line = $"{TimeProvider.System.GetLocalNow():HH:mm:ss.fff} {level}: {logEntry.Category}[{logEntry.EventId.Id}] {TerminalText.Sanitize(message)}";
        if (logEntry.Exception is { } ex) line += $" ({ex.GetType().Name}: {TerminalText.Sanitize(ex.Message)})";
        textWriter.WriteLine(line);
    }
}
