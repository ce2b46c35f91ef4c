namespace OspBridge.Bridge.Tests;

/// <summary>The README's first command: the whole path on loopback (mDNS bound to <c>lo</c> only).</summary>
public sealed class DemoTests
{
    [Fact]
    public void DemoRunsEndToEndOnLoopback()
    {
        var (rc, stdout, stderr) = CliProcess.Run(TimeSpan.FromSeconds(120), "demo", "--messages", "20", "--megabytes", "2");
        Assert.True(rc == 0, $"demo exited {rc}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Contains("found \"Front Door\"", stdout, StringComparison.Ordinal);
        Assert.Contains("agent-info (CBOR): display-name \"Front Door camera\"", stdout, StringComparison.Ordinal);
        Assert.Contains("data channel \"demo\" open", stdout, StringComparison.Ordinal);
        Assert.Contains("2 MiB out and back byte-exact (SHA-256 match)", stdout, StringComparison.Ordinal);
        Assert.Contains("done in", stdout, StringComparison.Ordinal);
    }
}
