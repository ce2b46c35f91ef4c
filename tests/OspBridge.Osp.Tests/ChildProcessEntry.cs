namespace OspBridge.Osp.Tests;

/// <summary>
/// Entry point used when a test re-runs this assembly as a child process (<c>dotnet exec OspBridge.Osp.Tests.dll …</c>);
/// the test host never calls it. Commands are in <see cref="Trust.TrustStoreChild"/>.
/// </summary>
public static class ChildProcessEntry
{
    /// <summary>Runs one helper command; exit code 0 on success, 2 on an exception (message on stderr).</summary>
    public static int Main(string[] args)
    {
        try
        {
            return Trust.TrustStoreChild.Run(args);
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine(ex.GetType().Name + ": " + ex.Message);
            return 2;
        }
    }
}
