using System.Diagnostics;
using System.Reflection;

namespace OspBridge.Testing.Processes;

/// <summary>
/// Re-runs a test assembly as a child process (<c>dotnet exec &lt;assembly&gt;.dll args…</c>) — the test project
/// must define its own <c>Main</c> (GenerateProgramFile=false). Used for cross-process tests (locks, kill -9).
/// </summary>
public static class AssemblyChildProcess
{
    /// <summary>Starts <paramref name="assembly"/> with <paramref name="args"/>; stdout/stderr redirected.</summary>
    public static Process Start(Assembly assembly, params string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start " + psi.FileName);
    }

    /// <summary>Runs to completion within <paramref name="timeout"/> (killed and an exception otherwise).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(Assembly assembly, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost());
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var run = await ChildProcess.RunAsync(psi, timeout);
        if (run.TimedOut) throw new TimeoutException($"child '{string.Join(' ', args)}' did not finish within {timeout}");
        return (run.ExitCode, run.StdOut, run.StdErr);
    }

    /// <summary>The dotnet host running this process (so the child uses the same runtime).</summary>
    public static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return self;
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }
}
