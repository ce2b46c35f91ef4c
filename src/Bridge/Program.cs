using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;

namespace OspBridge.Bridge;

/// <summary>Entry point of <c>ospbridge</c>.</summary>
public static class Program
{
    /// <summary>Runs the CLI; returns the process exit code.</summary>
    public static async Task<int> Main(string[] args)
    {
        // Last resort for a bug on a background thread: still one line, never an abort with a stack trace.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            if (e.ExceptionObject is Exception ex) Fail(ex);
            Environment.Exit(CliErrors.InternalError);
        };
        TaskScheduler.UnobservedTaskException += (_, e) => e.SetObserved();

        using var context = new CliContext();
        // SIGINT/SIGTERM cancel the command's token and let it unwind (a fetch resets its request and closes its
        // session on the wire) for up to context.InterruptGrace; a second signal terminates at once. System.CommandLine 2.0.0
        // does not do this itself: its ProcessTerminationTimeout defaults to null (dotnet/command-line-api#2739), so
        // without this the runtime killed the process on SIGINT and nothing was sent (issue 11).
        using var interrupt = new CancellationTokenSource();
        var interrupted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext c)
        {
            if (context.Interrupted) return; // the second one: the default action ends the process
            context.Interrupted = true;
            c.Cancel = true;
            interrupted.TrySetResult();
            ThreadPool.UnsafeQueueUserWorkItem(static s => ((CancellationTokenSource)s!).Cancel(), interrupt); // not on the signal thread
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var root = BuildRoot(context);
        // No response files: "@file" is an ordinary token (fetch -d @file means the file's bytes, as in curl).
        var parseResult = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parseResult.Errors.Count > 0)
        {
            await Console.Error.WriteLineAsync("ospbridge: " + CliErrors.OneLine(DescribeParseError(parseResult)) + " (see --help)").ConfigureAwait(false);
            return 2;
        }
        try
        {
            context.ValidateStateDirectory(parseResult); // every command, so a bad --state-dir is never silently ignored
            var invocation = parseResult.InvokeAsync(
                new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, interrupt.Token);
            if (await Task.WhenAny(invocation, GraceOverAsync(interrupted.Task, context)).ConfigureAwait(false) != invocation)
                return InterruptedExitCode; // still unwinding CliContext.InterruptGrace after the signal: give up waiting
            return await invocation.ConfigureAwait(false);
        }
        catch (Exception) when (context.Interrupted)
        {
            return InterruptedExitCode; // whatever the cancellation surfaced as, the user asked for it
        }
        catch (Exception ex)
        {
            if (parseResult.GetValue(context.Verbose)) await Console.Error.WriteLineAsync(CliErrors.OneLine(ex.ToString())).ConfigureAwait(false);
            return Fail(ex);
        }
    }

    /// <summary>Exit code after SIGINT/SIGTERM (128 + SIGINT, as a shell reports Ctrl-C).</summary>
    internal const int InterruptedExitCode = 130;

    /// <summary>Completes <see cref="CliContext.InterruptGrace"/> after the signal (read then: the command may have raised it).</summary>
    private static async Task GraceOverAsync(Task interrupted, CliContext context)
    {
        await interrupted.ConfigureAwait(false);
        await Task.Delay(context.InterruptGrace).ConfigureAwait(false);
    }

    private static int Fail(Exception ex)
    {
        var (message, code) = CliErrors.Describe(ex);
        Console.Error.WriteLine("ospbridge: " + message);
        Console.Error.Flush();
        return code;
    }

    /// <summary>
    /// One message for a command line that does not parse: an unknown command or sub-command is named as such
    /// (System.CommandLine would report only "Required command was not provided").
    /// </summary>
    internal static string DescribeParseError(ParseResult parseResult)
    {
        var command = parseResult.CommandResult.Command;
        string path = CommandPath(parseResult.CommandResult);
        var unmatched = parseResult.UnmatchedTokens;
        if (command.Subcommands.Count > 0)
        {
            string names = string.Join(", ", command.Subcommands.Select(c => c.Name).Order(StringComparer.Ordinal));
            if (unmatched.Count > 0 && !unmatched[0].StartsWith('-'))
                return $"unknown {(path.Length == 0 ? "command" : "sub-command of '" + path + "'")} '{unmatched[0]}' (one of: {names})";
            if (parseResult.Errors.Any(e => e.Message.Contains("Required command", StringComparison.Ordinal)) && unmatched.Count == 0)
                return $"{(path.Length == 0 ? "a command" : "'" + path + "' needs a sub-command")} is required (one of: {names})";
        }
        if (unmatched.Count > 0)
            return unmatched[0].StartsWith('-')
                ? $"unknown option '{unmatched[0]}'{(path.Length == 0 ? "" : " for '" + path + "'")}"
                : $"unexpected argument '{unmatched[0]}'{(path.Length == 0 ? "" : " for '" + path + "'")}";
        return parseResult.Errors[0].Message;
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c && c.Parent is not null; r = c.Parent) names.Add(c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>Builds the root command with every <see cref="ICliCommand"/> in this assembly, sorted by name.</summary>
    internal static RootCommand BuildRoot(CliContext context)
    {
        var root = new RootCommand("OspBridge: Open Screen / LP2P agent, WebRTC stack, PeerFetch and the LAN bridge");
        root.Options.Add(context.Verbose);
        root.Options.Add(context.StateDir);
        var commands = typeof(Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(ICliCommand).IsAssignableFrom(t))
            .Select(t => ((ICliCommand)Activator.CreateInstance(t, nonPublic: true)!).Build(context))
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var c in commands) root.Subcommands.Add(c);
        return root;
    }
}
