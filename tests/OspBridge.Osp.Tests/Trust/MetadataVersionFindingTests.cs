using OspBridge.Osp.Discovery;

namespace OspBridge.Osp.Tests.Trust;

/// <summary>Issue 9 item 8: the mv file was written through a fixed ".tmp" name with File.WriteAllText (follows symlinks).</summary>
public sealed class MetadataVersionFindingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ospbridge-mv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Finding8_MetadataVersionWriteDoesNotFollowAPlantedSymlink()
    {
        if (OperatingSystem.IsWindows()) return;
        var victim = Path.Combine(_dir, "victim.conf");
        File.WriteAllText(victim, "precious\n");
        var state = Path.Combine(_dir, "state");
        Directory.CreateDirectory(state);
        // The attacker plants links at the old fixed temp name and at the file itself.
        File.CreateSymbolicLink(Path.Combine(state, OspMetadataVersion.FileName + ".tmp"), victim);
        Assert.Equal(0ul, OspMetadataVersion.LoadOrBump(state, "TV", "OspBridge"));
        Assert.Equal("precious\n", File.ReadAllText(victim));
        Assert.Equal(1ul, OspMetadataVersion.LoadOrBump(state, "Kitchen TV", "OspBridge"));
        Assert.Equal("precious\n", File.ReadAllText(victim));
        var mv = Path.Combine(state, OspMetadataVersion.FileName);
        Assert.Null(new FileInfo(mv).LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(mv));
    }

    [Fact]
    public void Finding8_SymlinkAtTheMetadataFileIsReplacedNotWrittenThrough()
    {
        if (OperatingSystem.IsWindows()) return;
        var victim = Path.Combine(_dir, "victim.conf");
        File.WriteAllText(victim, "precious\n");
        var state = Path.Combine(_dir, "state2");
        Directory.CreateDirectory(state);
        File.CreateSymbolicLink(Path.Combine(state, OspMetadataVersion.FileName), victim);
        OspMetadataVersion.LoadOrBump(state, "TV", "OspBridge");
        Assert.Equal("precious\n", File.ReadAllText(victim));
    }

    [Fact]
    public void Finding7_WorldWritableMetadataFileIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        var state = Path.Combine(_dir, "s3");
        OspMetadataVersion.LoadOrBump(state, "TV");
        File.SetUnixFileMode(Path.Combine(state, OspMetadataVersion.FileName), (UnixFileMode)0b110_110_110);
        var ex = Assert.Throws<OspBridge.Crypto.CryptoException>(() => OspMetadataVersion.LoadOrBump(state, "TV"));
        Assert.Equal(OspBridge.Crypto.CryptoError.InsecureState, ex.Error);
    }
}
