using OspBridge.Crypto.Identity;
using OspBridge.Testing.Processes;

namespace OspBridge.Crypto.Tests.Identity;

/// <summary>Issue 9 "State on disk", findings 7 and 9: each test is named after its finding.</summary>
public sealed class StateOnDiskFindingTests : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-sod-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Finding7_WorldWritableStateDirectoryIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_111_111); // 0777
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.InsecureState, ex.Error);
        Assert.Contains("chmod", ex.Message, StringComparison.Ordinal);
        Assert.Contains(_dir, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Finding7_GroupWritableStateDirectoryIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_111_000); // 0770
        Assert.Equal(CryptoError.InsecureState, Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir)).Error);
    }

    [Fact]
    public void Finding7_ReadablePrivateKeyIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        var key = Path.Combine(_dir, "agent-key.pem");
        File.SetUnixFileMode(key, Rw | UnixFileMode.GroupRead | UnixFileMode.OtherRead); // 0644
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.InsecureState, ex.Error);
        Assert.Contains("agent-key.pem", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Finding7_WorldWritableStateFilesAreRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        var state = Path.Combine(_dir, "agent.json");
        File.SetUnixFileMode(state, (UnixFileMode)0b110_110_110); // 0666
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.InsecureState, ex.Error);
        Assert.Contains("agent.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Finding7_OwnerOnlyAndReadOnlyModesStillLoad()
    {
        if (OperatingSystem.IsWindows()) return;
        string fp;
        using (var id = AgentIdentity.LoadOrCreate(_dir, "Cam")) fp = id.Fingerprint;
        // 0755 directory and a 0644 certificate are fine (ssh accepts the same); 0400 key is fine.
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Path.Combine(_dir, "agent-cert.pem"), (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(Path.Combine(_dir, "agent-key.pem"), UnixFileMode.UserRead);
        using var again = AgentIdentity.LoadOrCreate(_dir);
        Assert.Equal(fp, again.Fingerprint);
    }

    [Fact]
    public async Task Finding9_ConcurrentIdentityRunsInSeparateProcessesEndWithOneIdentity()
    {
        // Three `identity` runs at once on a fresh directory (issue 9 item 9). Before the lock they raced:
        // different fingerprints (two identities lost) or "partial state".
        for (int round = 0; round < 3; round++)
        {
            var dir = Path.Combine(_dir, "r" + round);
            Directory.CreateDirectory(_dir);
            var runs = Enumerable.Range(0, 3)
                .Select(_ => AssemblyChildProcess.RunAsync(typeof(StateOnDiskFindingTests).Assembly, TimeSpan.FromSeconds(60), "identity", dir))
                .ToArray();
            var results = await Task.WhenAll(runs);
            foreach (var r in results) Assert.True(r.ExitCode == 0, $"child failed ({r.ExitCode}): {r.Stderr}");
            var fps = results.Select(r => r.Stdout.Trim()).Distinct().ToArray();
            Assert.Single(fps);
            using var id = AgentIdentity.LoadOrCreate(dir);
            Assert.Equal(fps[0], id.Fingerprint);
        }
    }

    [Fact]
    public async Task Finding9_ConcurrentIdentityRunsOnThreadsEndWithOneIdentity()
    {
        for (int round = 0; round < 5; round++)
        {
            var dir = Path.Combine(_dir, "t" + round);
            using var start = new ManualResetEventSlim();
            var tasks = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
            {
                start.Wait();
                using var id = AgentIdentity.LoadOrCreate(dir, "Threads");
                return id.Fingerprint;
            }, TaskCreationOptions.LongRunning)).ToArray();
            start.Set();
            var fps = await Task.WhenAll(tasks);
            Assert.Single(fps.Distinct());
        }
    }

    [Fact]
    public void Finding9_StateFileIsTheManifestAndNamesTheKey()
    {
        // agent.json is written last and carries the SHA-256 of the key file: a key swapped under a
        // committed state is an error, not a silently different identity.
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        Assert.Contains("\"keySha256\"", File.ReadAllText(Path.Combine(_dir, "agent.json")), StringComparison.Ordinal);
        using var other = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var key = Path.Combine(_dir, "agent-key.pem");
        File.WriteAllText(key, other.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(key, Rw);
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.CorruptState, ex.Error);
        Assert.Contains("agent-key.pem", ex.Message, StringComparison.Ordinal);
    }
}
