using OspBridge.Crypto.Storage;

namespace OspBridge.Crypto.Tests.Storage;

/// <summary>Issue 9 item 10: SSLKEYLOGFILE honoured only when explicitly enabled, file 0600, a warning.</summary>
public sealed class KeyLogFindingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ospbridge-keylog-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Func<string, string?> Env(Dictionary<string, string> vars) => k => vars.TryGetValue(k, out var v) ? v : null;

    [Fact]
    public void Finding10_SslKeyLogFileAloneIsIgnored()
    {
        var path = Path.Combine(_dir, "keys.log");
        var warn = new StringWriter();
        var w = KeyLogFile.OpenFromEnvironment(Env(new() { ["SSLKEYLOGFILE"] = path }), warn);
        Assert.Null(w);
        Assert.False(File.Exists(path), "the key log must not even be created");
        Assert.Contains("OSPBRIDGE_ENABLE_KEYLOG=1", warn.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("true")]
    [InlineData("")]
    public void Finding10_OnlyTheExactSwitchEnablesIt(string value)
    {
        var path = Path.Combine(_dir, "keys.log");
        Assert.Null(KeyLogFile.OpenFromEnvironment(Env(new() { ["SSLKEYLOGFILE"] = path, ["OSPBRIDGE_ENABLE_KEYLOG"] = value }), new StringWriter()));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Finding10_EnabledKeyLogIsOwnerOnlyAndWarned()
    {
        var path = Path.Combine(_dir, "keys.log");
        var warn = new StringWriter();
        using (var w = KeyLogFile.OpenFromEnvironment(Env(new() { ["SSLKEYLOGFILE"] = path, ["OSPBRIDGE_ENABLE_KEYLOG"] = "1" }), warn))
        {
            Assert.NotNull(w);
            w.WriteLine("CLIENT_TRAFFIC_SECRET_0 00 11");
        }
        Assert.Contains("WARNING", warn.ToString(), StringComparison.Ordinal);
        Assert.Contains(path, warn.ToString(), StringComparison.Ordinal);
        Assert.Equal("CLIENT_TRAFFIC_SECRET_0 00 11\n", File.ReadAllText(path));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Finding10_ExistingWorldReadableKeyLogIsNotWritten()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Path.Combine(_dir, "keys.log");
        File.WriteAllText(path, "");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100); // 0644
        var warn = new StringWriter();
        Assert.Null(KeyLogFile.OpenFromEnvironment(Env(new() { ["SSLKEYLOGFILE"] = path, ["OSPBRIDGE_ENABLE_KEYLOG"] = "1" }), warn));
        Assert.Contains("not written", warn.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(path).Length);
    }
}
