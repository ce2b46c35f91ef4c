using OspBridge.Osp;

namespace OspBridge.Bridge.Pairing;

/// <summary>Turns OSP errors that escape a pairing command into the CLI's one-line error (exit 1).</summary>
internal static class CliGuard
{
    /// <summary>Runs <paramref name="action"/>; an <see cref="OspException"/> becomes <c>ospbridge: error: &lt;message&gt;</c> and exit code 1.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (OspException ex)
        {
            await Console.Error.WriteLineAsync("ospbridge: error: " + ex.Message.ReplaceLineEndings(" ")).ConfigureAwait(false);
            return 1;
        }
    }
}
