namespace OspBridge.Bridge.Tests;

public sealed class CliTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void HelpListsCommands()
    {
        var (rc, stdout, _) = CliProcess.Run(Timeout, "--help");
        Assert.Equal(0, rc);
        Assert.Contains("identity", stdout, StringComparison.Ordinal);
        Assert.Contains("--verbose", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_with_the_test_camera_and_no_ffmpeg_on_PATH_refuses_to_start_and_says_why()
    {
        Directory.CreateDirectory(_dir);
        var psi = CliProcess.StartInfo(["agent", "--name", "No ffmpeg", "--camera", "test", "--interface", "lo", "--state-dir", _dir]);
        psi.Environment["PATH"] = _dir; // an empty directory: no ffmpeg (the dotnet host is started by its full path)
        var run = await ChildProcess.RunAsync(psi, Timeout);
        Assert.False(run.TimedOut, "the agent kept running without ffmpeg");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--camera test: ffmpeg is not installed", run.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownOptionIsAOneLineErrorWithNonZeroExit()
    {
        var (rc, _, stderr) = CliProcess.Run(Timeout, "identity", "--no-such-option");
        Assert.NotEqual(0, rc);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("ospbridge: ", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void IdentityPrintsFingerprintHostnameAndExpiryAndIsStable()
    {
        var (rc, stdout, stderr) = CliProcess.Run(Timeout, "identity", "--state-dir", _dir, "--name", "Front Door", "--json");
        Assert.True(rc == 0, stderr);
        using var first = JsonDocument.Parse(stdout);
        var fp = first.RootElement.GetProperty("fingerprint").GetString()!;
        Assert.Equal(44, fp.Length);
        Assert.EndsWith(".Front-Door.local", first.RootElement.GetProperty("hostname").GetString(), StringComparison.Ordinal);
        Assert.True(DateTimeOffset.Parse(first.RootElement.GetProperty("notAfter").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddDays(300));

        var (rc2, text, _) = CliProcess.Run(Timeout, "identity", "--state-dir", _dir);
        Assert.Equal(0, rc2);
        Assert.Contains("fingerprint  " + fp, text, StringComparison.Ordinal);
        Assert.Contains("expires", text, StringComparison.Ordinal);
    }

    [Fact]
    public void CorruptStateGivesClearErrorAndKeepsFiles()
    {
        Assert.Equal(0, CliProcess.Run(Timeout, "identity", "--state-dir", _dir).ExitCode);
        File.WriteAllText(Path.Combine(_dir, "agent.json"), "{\"version\":1,");
        var (rc, _, stderr) = CliProcess.Run(Timeout, "identity", "--state-dir", _dir);
        Assert.Equal(1, rc);
        Assert.Contains("agent.json", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("{\"version\":1,", File.ReadAllText(Path.Combine(_dir, "agent.json")));
    }
}
