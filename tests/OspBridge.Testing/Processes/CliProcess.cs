using System.Diagnostics;

namespace OspBridge.Testing.Processes;

/// <summary>
/// Runs the built <c>ospbridge</c> CLI (<c>ospbridge.dll</c> next to the running test or bench assembly) as a child
/// process: one place that knows how to start it, for <see cref="CliChild"/> (long-running children read line by line)
/// and <see cref="Run"/> (run to completion with a bounded timeout).
/// </summary>
public static class CliProcess
{
    /// <summary>The CLI next to the running assembly.</summary>
    /// <exception cref="FileNotFoundException">It was not built there.</exception>
    public static string Dll
    {
        get
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "ospbridge.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException($"ospbridge.dll not found next to the tests ({dll})", dll);
            return dll;
        }
    }

    /// <summary>A start description with all three standard streams redirected.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(AssemblyChildProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Starts the CLI with all three standard streams redirected (the caller reads them).</summary>
    public static Process Start(params string[] args) =>
        Process.Start(StartInfo(args)) ?? throw new InvalidOperationException("could not start ospbridge " + string.Join(' ', args));

    /// <summary>Runs to completion with empty standard input.</summary>
    /// <exception cref="TimeoutException">It did not exit within <paramref name="timeout"/> (it is killed).</exception>
    public static (int ExitCode, string StdOut, string StdErr) Run(TimeSpan timeout, params string[] args) => RunWithInput(timeout, "", args);

    /// <summary>Runs to completion with <paramref name="stdin"/> written to the child's standard input, which is then closed.</summary>
    /// <exception cref="TimeoutException">It did not exit within <paramref name="timeout"/> (it is killed).</exception>
    public static (int ExitCode, string StdOut, string StdErr) RunWithInput(TimeSpan timeout, string stdin, params string[] args)
    {
        var run = ChildProcess.RunAsync(StartInfo(args), timeout, stdin).GetAwaiter().GetResult();
        if (run.TimedOut) throw new TimeoutException($"ospbridge {string.Join(' ', args)} did not exit within {timeout}");
        return (run.ExitCode, run.StdOut, run.StdErr);
    }
}
