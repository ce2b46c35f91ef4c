using OspBridge.Crypto.Storage;

namespace OspBridge.Crypto.Tests.Storage;

public sealed class StateFileWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ospbridge-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WriteReplacesASymlinkInsteadOfFollowingIt()
    {
        if (OperatingSystem.IsWindows()) return;
        var victim = Path.Combine(_dir, "victim");
        File.WriteAllText(victim, "precious");
        var target = Path.Combine(_dir, "state.txt");
        File.CreateSymbolicLink(target, victim);
        StateFileWriter.Write(target, "new state");
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Null(new FileInfo(target).LinkTarget);
        Assert.Equal("new state", File.ReadAllText(target));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
    }

    [Fact]
    public void WriteLeavesNoTempFilesAndStaleOnesAreRemoved()
    {
        var target = Path.Combine(_dir, "s.json");
        var stale = Path.Combine(_dir, ".s.json.0011223344556677.tmp");
        File.WriteAllText(stale, "half");
        StateFileWriter.Write(target, "1");
        StateFileWriter.Write(target, "2");
        Assert.Equal("2", File.ReadAllText(target));
        StateFileWriter.RemoveStaleTempFiles(_dir, "s.json");
        Assert.Equal(new[] { "s.json" }, Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!).ToArray());
    }

    [Fact]
    public async Task LockExcludesOtherHoldersAndTimesOut()
    {
        var lockPath = Path.Combine(_dir, "x.lock");
        using (StateLock.Acquire(lockPath))
        {
            var ex = await Task.Run(() => Assert.Throws<CryptoException>(() => StateLock.Acquire(lockPath, TimeSpan.FromMilliseconds(100))));
            Assert.Equal(CryptoError.LimitExceeded, ex.Error);
        }
        using var again = StateLock.Acquire(lockPath, TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void NewStateDirectoryIsOwnerOnly()
    {
        if (OperatingSystem.IsWindows()) return;
        var d = Path.Combine(_dir, "new");
        StatePermissions.Prepare(d);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(d));
    }
}
