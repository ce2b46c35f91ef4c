using System.Diagnostics;

namespace OspBridge.Bridge.Tests;

/// <summary>Runs the built <c>ospbridge</c> as a child process with a bounded timeout.</summary>
internal static class CliProcess
{
    public static (int ExitCode, string StdOut, string StdErr) Run(TimeSpan timeout, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "ospbridge.dll");
        Assert.True(File.Exists(dll), $"ospbridge.dll not found next to the tests ({dll})");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"ospbridge {string.Join(' ', args)} did not exit within {timeout}");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
