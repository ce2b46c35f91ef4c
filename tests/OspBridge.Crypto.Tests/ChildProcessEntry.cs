using OspBridge.Crypto.Identity;

namespace OspBridge.Crypto.Tests;

/// <summary>
/// Entry point used when a test re-runs this assembly as a child process (<c>dotnet exec OspBridge.Crypto.Tests.dll …</c>);
/// the test host never calls it. Commands:
/// <c>identity &lt;dir&gt;</c> — AgentIdentity.LoadOrCreate, prints the fingerprint.
/// </summary>
public static class ChildProcessEntry
{
    /// <summary>Runs one helper command; exit code 0 on success, 2 on an exception (message on stderr).</summary>
    public static int Main(string[] args)
    {
        try
        {
            switch (args)
            {
                case ["identity", var dir]:
                    using (var id = AgentIdentity.LoadOrCreate(dir, "Concurrent"))
                        Console.WriteLine(id.Fingerprint);
                    return 0;
                default:
                    Console.Error.WriteLine("usage: identity <dir>");
                    return 64;
            }
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine(ex.GetType().Name + ": " + ex.Message);
            return 2;
        }
    }
}
