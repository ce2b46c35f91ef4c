using System.Diagnostics;

namespace OspBridge.Testing.Processes;

/// <summary>How a child process run by <see cref="ChildProcess.RunAsync"/> ended.</summary>
/// <param name="ExitCode">Its exit code (-1 when it was killed at the timeout).</param>
/// <param name="StdOut">All it wrote to standard output.</param>
/// <param name="StdErr">All it wrote to standard error.</param>
/// <param name="TimedOut">True when it was still running at the timeout and was killed (with its children).</param>
public readonly record struct ProcessRun(int ExitCode, string StdOut, string StdErr, bool TimedOut);

/// <summary>
/// Runs a program to completion with a bounded time, capturing both output streams (the one copy of the
/// start/read/wait/kill dance that the tests' process helpers share).
/// </summary>
public static class ChildProcess
{
    /// <summary>
    /// Starts <paramref name="startInfo"/> (standard output and error are redirected here; standard input too when
    /// <paramref name="stdin"/> is given: it is written, then closed), waits up to <paramref name="timeout"/>, and
    /// kills the process tree when it has not exited by then.
    /// </summary>
    public static async Task<ProcessRun> RunAsync(ProcessStartInfo startInfo, TimeSpan timeout, string? stdin = null)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.RedirectStandardInput = stdin is not null || startInfo.RedirectStandardInput;
        startInfo.UseShellExecute = false;
        using var p = Process.Start(startInfo) ?? throw new InvalidOperationException("could not start " + startInfo.FileName);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (startInfo.RedirectStandardInput)
        {
            try
            {
                await p.StandardInput.WriteAsync(stdin ?? "").ConfigureAwait(false);
                p.StandardInput.Close();
            }
            catch (IOException)
            {
                // the child exited before reading all of its input (a validation error): fine
            }
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().ConfigureAwait(false);
            return new ProcessRun(-1, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), TimedOut: true);
        }
        return new ProcessRun(p.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), TimedOut: false);
    }
}
