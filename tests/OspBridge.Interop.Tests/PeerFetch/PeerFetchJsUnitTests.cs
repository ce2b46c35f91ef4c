using System.Diagnostics;
using Xunit.Abstractions;

namespace OspBridge.Interop.Tests.PeerFetch;

/// <summary>
/// Runs <c>node --test interop/peerfetch/</c>: the ES module's encoders and decoders against the golden vectors in
/// docs/peerfetch.md §2.7, mutation cases, and its client logic over a fake data channel. No network.
/// </summary>
public class PeerFetchJsUnitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Node_unit_tests_of_the_es_module_pass()
    {
        const string Node = "/usr/bin/node";
        Assert.True(File.Exists(Node), "node is required (test.sh installs nodejs)");
        string dir = Path.GetDirectoryName(PeerFetchChromiumRig.ModulePath())!;
        var psi = new ProcessStartInfo(Node) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        psi.ArgumentList.Add("--test");
        psi.ArgumentList.Add("peerfetch.test.mjs");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw; }
        string o = await stdout;
        output.WriteLine(o);
        output.WriteLine(await stderr);
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("# fail 0", o, StringComparison.Ordinal);
        Assert.Matches(@"# pass [1-9]", o);
    }
}
