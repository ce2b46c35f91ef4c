using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Osp.Trust;
using OspBridge.Testing.Processes;

namespace OspBridge.Osp.Tests.Trust;

public sealed class TrustStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-trust-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static string Fp(string tag) => TrustStoreChild.Fp(tag);

    [Theory]
    // Independently computed with Python: base64.b32encode(base64.b64decode(fp)[:10]).lower() (docs/trust.md).
    [InlineData("vxIIBWXpsKV9292Wma/f8Ly7Qf6zwr5ZuSFG22BKZ0Q=", "x4jaqblf5gykk7o3")]
    [InlineData("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "4oymiquy7qobjgx3")]
    [InlineData("ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=", "zklycewkdo64v6wc")]
    [InlineData("Tgye1L6XuKiLfhhONB6I5W3eXwXXPCA9KgBYH/gZrXE=", "jygj5vf6s64krc36")]
    public void PeerIdGoldenVectors(string fingerprint, string id)
    {
        Assert.Equal(id, OspPeerId.FromFingerprint(fingerprint));
        Assert.True(OspPeerId.IsId(id));
        Assert.Matches("^[a-z2-7]{16}$", id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64")]
    [InlineData("AAAA")]
    [InlineData("vxIIBWXpsKV9292Wma/f8Ly7Qf6zwr5ZuSFG22BKZ0Q")]
    public void PeerIdRejectsNonFingerprints(string fp) => Assert.Throws<ArgumentException>(() => OspPeerId.FromFingerprint(fp));

    [Fact]
    public void AuthenticatedPeerSurvivesReopenWithTimesNamesAndEndpoints()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        var store = OspTrustStore.Open(_dir, time);
        Assert.Empty(store.Peers);
        var fp = Fp("tv");
        Assert.False(store.IsTrusted(fp));
        store.RecordAuthenticated(fp, "Living Room TV", "192.0.2.7:4433");
        time.Advance(TimeSpan.FromHours(1));
        store.RecordSeen(fp, "Living Room TV", "192.0.2.8:4433");
        var again = OspTrustStore.Open(_dir, time);
        var p = Assert.Single(again.Peers);
        Assert.True(p.Trusted);
        Assert.Equal(OspPeerId.FromFingerprint(fp), p.Id);
        Assert.Equal("Living Room TV", p.Name);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero), p.FirstSeen);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 11, 0, 0, TimeSpan.Zero), p.LastSeen);
        Assert.Equal(["192.0.2.7:4433", "192.0.2.8:4433"], p.Endpoints);
        Assert.True(again.IsTrusted(fp));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, OspTrustStore.FileName)));
    }

    [Fact]
    public void RevocationRemovesTrustAndGrants()
    {
        var store = OspTrustStore.Open(_dir);
        var fp = Fp("phone");
        store.RecordAuthenticated(fp, "Phone");
        store.Grant(fp, "https://chat.example");
        Assert.True(store.HasGrant(fp, "https://chat.example"));
        Assert.True(store.Revoke(fp));
        Assert.False(store.Revoke(fp));
        var reopened = OspTrustStore.Open(_dir);
        Assert.False(reopened.IsTrusted(fp));
        Assert.False(reopened.HasGrant(fp, "https://chat.example"));
        Assert.Empty(reopened.Peers);
    }

    [Fact]
    public void GrantsAreListedRevocableAndOnlyForTrustedPeers()
    {
        var store = OspTrustStore.Open(_dir);
        var fp = Fp("cam");
        store.RecordAuthFailure(fp, "Cam");
        Assert.Equal(OspError.PeerNotFound, Assert.Throws<OspException>(() => store.Grant(fp, "app")).Error);
        store.RecordAuthenticated(fp, "Cam");
        store.Grant(fp, "a");
        store.Grant(fp, "b");
        store.Grant(fp, "a");
        Assert.Equal(["a", "b"], store.Find(fp)!.Grants.Select(g => g.App));
        Assert.True(store.RevokeGrant(fp, "a"));
        Assert.False(store.RevokeGrant(fp, "a"));
        Assert.Equal(["b"], OspTrustStore.Open(_dir).Find(fp)!.Grants.Select(g => g.App));
    }

    [Fact]
    public void AuthFailuresAreCountedFlaggedAndResetBySuccess()
    {
        var store = OspTrustStore.Open(_dir);
        var fp = Fp("bad");
        for (int i = 0; i < OspTrustStore.AuthFailureThreshold - 1; i++) store.RecordAuthFailure(fp);
        Assert.False(store.Find(fp)!.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures));
        store.RecordAuthFailure(fp);
        var p = store.Find(fp)!;
        Assert.True(p.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures));
        Assert.False(p.Trusted);
        store.RecordAuthenticated(fp, "Fine now");
        Assert.Equal(0, store.Find(fp)!.AuthFailures);
        Assert.False(store.Find(fp)!.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures));
    }

    [Fact]
    public void UntrustedRecordsFromTheNetworkAreBounded()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var store = OspTrustStore.Open(_dir, time);
        store.RecordAuthenticated(Fp("keep"), "Keep");
        for (int i = 0; i < OspTrustStore.MaxUntrustedPeers + 20; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            store.RecordAuthFailure(Fp("junk" + i));
        }
        var peers = OspTrustStore.Open(_dir).Peers;
        Assert.Equal(OspTrustStore.MaxUntrustedPeers, peers.Count(p => !p.Trusted));
        Assert.Contains(peers, p => p.Trusted && p.Fingerprint == Fp("keep"));
        Assert.DoesNotContain(peers, p => p.Fingerprint == Fp("junk0"));
    }

    [Theory]
    [InlineData("{\"version\":1,\"peers\":[{\"fp\":\"x\"")]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"version\":2,\"peers\":[]}")]
    [InlineData("{\"version\":1,\"peers\":[{\"fp\":\"vxIIBWXpsKV9292Wma/f8Ly7Qf6zwr5ZuSFG22BKZ0Q=\",\"id\":\"aaaaaaaaaaaaaaaa\",\"names\":[],\"firstSeen\":\"2026-01-01T00:00:00Z\",\"lastSeen\":\"2026-01-01T00:00:00Z\",\"trusted\":true,\"authFailures\":0,\"flags\":[],\"endpoints\":[],\"grants\":[]}]}")]
    public void CorruptStoreIsAnErrorNotAnEmptyStore(string contents)
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, OspTrustStore.FileName), contents);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(_dir, OspTrustStore.FileName), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var ex = Assert.Throws<OspException>(() => OspTrustStore.Open(_dir));
        Assert.Equal(OspError.CorruptState, ex.Error);
        Assert.Contains("trust.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WorldWritableStoreIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        OspTrustStore.Open(_dir).RecordAuthenticated(Fp("x"), "X");
        File.SetUnixFileMode(Path.Combine(_dir, OspTrustStore.FileName), (UnixFileMode)0b110_110_110);
        Assert.Equal(OspError.InsecureState, Assert.Throws<OspException>(() => OspTrustStore.Open(_dir)).Error);
    }

    [Fact]
    public void ResolverAcceptsNameIdAndFingerprintPrefix()
    {
        var store = OspTrustStore.Open(_dir);
        var tv = Fp("tv");
        var cam = Fp("cam");
        store.RecordAuthenticated(tv, "Living Room TV");
        store.RecordAuthenticated(cam, "Door Cam");
        store.RecordAuthFailure(Fp("stranger"), "Stranger");
        Assert.Equal(tv, store.Resolve("living room tv").Fingerprint);
        Assert.Equal(cam, store.Resolve(OspPeerId.FromFingerprint(cam)).Fingerprint);
        Assert.Equal(cam, store.Resolve(OspPeerId.FromFingerprint(cam).ToUpperInvariant()).Fingerprint);
        Assert.Equal(tv, store.Resolve(tv[..6]).Fingerprint);
        Assert.Equal(tv, store.Resolve(tv).Fingerprint);
        Assert.Equal(OspError.PeerNotFound, Assert.Throws<OspException>(() => store.Resolve("Stranger")).Error); // untrusted: not resolvable
        Assert.Equal(OspError.PeerNotFound, Assert.Throws<OspException>(() => store.Resolve("nobody")).Error);
        Assert.Equal(OspError.PeerNotFound, Assert.Throws<OspException>(() => store.Resolve(tv[..3])).Error); // prefixes need 4 characters
    }

    [Fact]
    public void AmbiguousResolutionListsTheCandidates()
    {
        var store = OspTrustStore.Open(_dir);
        // Two TVs with the same name (two devices of one model are normal) and fingerprints sharing a prefix.
        store.RecordAuthenticated(Fp("a"), "TV");
        store.RecordAuthenticated(Fp("b"), "TV");
        var ex = Assert.Throws<OspException>(() => store.Resolve("tv"));
        Assert.Equal(OspError.AmbiguousPeer, ex.Error);
        Assert.Contains(OspPeerId.FromFingerprint(Fp("a")), ex.Message, StringComparison.Ordinal);
        Assert.Contains(OspPeerId.FromFingerprint(Fp("b")), ex.Message, StringComparison.Ordinal);
        var peers = new[]
        {
            new OspTrustedPeer { Fingerprint = "AAAAB" + Fp("x")[5..], Trusted = true, DisplayNames = ["One"] },
            new OspTrustedPeer { Fingerprint = "AAAAC" + Fp("y")[5..], Trusted = true, DisplayNames = ["Two"] },
        };
        Assert.Equal(OspError.AmbiguousPeer, Assert.Throws<OspException>(() => OspTrustStore.ResolveIn(peers, "AAAA")).Error);
        Assert.Equal("Two", OspTrustStore.ResolveIn(peers, "AAAAC").Name);
    }

    [Fact]
    public async Task TwoProcessesWritingAtOnceLoseNothing()
    {
        Directory.CreateDirectory(_dir);
        var asm = typeof(TrustStoreTests).Assembly;
        var a = AssemblyChildProcess.RunAsync(asm, TimeSpan.FromSeconds(120), "trust-add", _dir, "a", "25");
        var b = AssemblyChildProcess.RunAsync(asm, TimeSpan.FromSeconds(120), "trust-add", _dir, "b", "25");
        var store = OspTrustStore.Open(_dir);
        for (int i = 0; i < 25; i++) store.RecordAuthenticated(Fp("c-" + i), "c " + i); // and this process too
        foreach (var r in await Task.WhenAll(a, b)) Assert.True(r.ExitCode == 0, r.Stderr);
        var peers = OspTrustStore.Open(_dir).Peers;
        Assert.Equal(75, peers.Count);
        foreach (var tag in new[] { "a", "b", "c" })
            for (int i = 0; i < 25; i++) Assert.Contains(peers, p => p.Fingerprint == Fp($"{tag}-{i}") && p.Trusted);
    }

    [Fact]
    public async Task StoreSurvivesKillMinus9AtAnyPoint()
    {
        // A child writes continuously; we kill -9 it at varied moments (bounded: 12 rounds, ≤ 20 s each) and the
        // store must always load, as a consistent state: peers churn-0…churn-(k-1) each trusted, each with its
        // grant except possibly the last (killed between its two writes) — never a torn or empty file.
        Directory.CreateDirectory(_dir);
        var asm = typeof(TrustStoreTests).Assembly;
        int lastCount = 0;
        for (int round = 0; round < 12; round++)
        {
            using var p = AssemblyChildProcess.Start(asm, "trust-churn", _dir);
            // Let it get going (runtime start-up ~100-300 ms), then kill at a varied offset.
            var deadline = DateTimeOffset.UtcNow.AddSeconds(20);
            while (OspTrustStore.Open(_dir).Peers.Count <= lastCount && DateTimeOffset.UtcNow < deadline && !p.HasExited)
                await Task.Delay(5);
            await Task.Delay(3 + round * 7);
            p.Kill();
            await p.WaitForExitAsync();
            var peers = OspTrustStore.Open(_dir).Peers;
            Assert.True(peers.Count >= lastCount, $"round {round}: {peers.Count} < {lastCount}");
            for (int i = 0; i < peers.Count; i++)
            {
                Assert.Equal(TrustStoreChild.Fp("churn-" + i), peers[i].Fingerprint);
                Assert.True(peers[i].Trusted);
                if (i < peers.Count - 1) Assert.Equal(["app-" + i], peers[i].Grants.Select(g => g.App));
            }
            lastCount = peers.Count;
        }
        Assert.True(lastCount > 12, $"the child made too little progress ({lastCount}) for the test to mean anything");
        // Temp files of killed writes are removed by the next open.
        Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }
}
