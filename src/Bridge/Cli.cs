using System.CommandLine;
using Microsoft.Extensions.Logging;

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

    /// <summary>Creates a logger factory honouring <c>-v</c>; logs go to stderr so stdout stays machine-readable.</summary>
    public ILoggerFactory CreateLoggerFactory(ParseResult parseResult)
    {
        bool verbose = parseResult.GetValue(Verbose);
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
            b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
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

    /// <summary>The effective state directory: <c>--state-dir</c> or the XDG default.</summary>
    public string GetStateDirectory(ParseResult parseResult)
    {
        var dir = parseResult.GetValue(StateDir);
        if (dir is not null) return dir.FullName;
        string? xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(xdg))
            xdg = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(xdg, "ospbridge");
    }
}

/// <summary>Thrown by command actions for a user-facing one-line error (exit code 1).</summary>
internal sealed class CliException(string message) : Exception(message);
