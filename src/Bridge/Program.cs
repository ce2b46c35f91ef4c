using System.CommandLine;
using System.Reflection;

namespace OspBridge.Bridge;

/// <summary>Entry point of <c>ospbridge</c>.</summary>
public static class Program
{
    /// <summary>Runs the CLI; returns the process exit code.</summary>
    public static async Task<int> Main(string[] args)
    {
        using var context = new CliContext();
        var root = BuildRoot(context);
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            await Console.Error.WriteLineAsync($"ospbridge: {parseResult.Errors[0].Message} (see --help)").ConfigureAwait(false);
            return 2;
        }
        try
        {
            return await parseResult.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
        catch (Exception ex) when (ex is CliException or IOException or UnauthorizedAccessException
                                       or Crypto.CryptoException or Net.NetException or FormatException or ArgumentException)
        {
            await Console.Error.WriteLineAsync($"ospbridge: error: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
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
