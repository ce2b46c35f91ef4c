using System.Diagnostics;

namespace OspBridge.Bridge.Tests;

/// <summary>Runs the built <c>ospbridge</c> as a child process with a bounded timeout.</summary>
internal static class CliProcess
{
    public static (int ExitCode, string StdOut, string StdErr) Run(TimeSpan timeout, params string[] args) => RunWithInput(timeout, "", args);

    /// <summary>Runs with <paramref name="stdin"/> written to the child's standard input, which is then closed.</summary>
    public static (int ExitCode, string StdOut, string StdErr) RunWithInput(TimeSpan timeout, string stdin, params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // the child exited before reading all of its input (a validation error): fine
        }
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"ospbridge {string.Join(' ', args)} did not exit within {timeout}");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the CLI with all three standard streams redirected.</summary>
    public static Process Start(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "ospbridge.dll");
        Assert.True(File.Exists(dll), $"ospbridge.dll not found next to the tests ({dll})");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
