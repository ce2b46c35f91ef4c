namespace OspBridge.Testing.Netns;

/// <summary>The outcome of a process run to completion by <see cref="NetnsHost.RunAsync"/> or <see cref="NetnsLan.RunCommandAsync"/>.</summary>
/// <param name="ExitCode">Exit code; -1 when the process was killed because the timeout elapsed.</param>
/// <param name="StandardOutput">Everything written to stdout.</param>
/// <param name="StandardError">Everything written to stderr.</param>
/// <param name="TimedOut">True when the process did not finish within the timeout and was killed.</param>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError, bool TimedOut)
{
    /// <summary>Throws <see cref="InvalidOperationException"/> with the captured output unless the exit code was 0.</summary>
    public ProcessResult EnsureSuccess(string what)
    {
        if (ExitCode != 0 || TimedOut)
            throw new InvalidOperationException(
                $"{what} failed (exit {ExitCode}{(TimedOut ? ", timed out" : "")}): {StandardError.Trim()} {StandardOutput.Trim()}");
        return this;
    }
}
