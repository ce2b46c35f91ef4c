using OspBridge.Osp.Trust;

namespace OspBridge.Osp.Tests.Trust;

/// <summary>
/// The trust file is cached once per state directory (the store's last parse + the file's write time, length and mode):
/// reads of an unchanged file cost a stat, a change by anyone is seen on the next read, and the private-name
/// bookkeeping after a connect is one read-modify-write. Counted with <see cref="OspTrustStore.FileReads"/> and
/// <see cref="OspTrustStore.FileWrites"/>.
/// </summary>
public sealed class TrustStoreCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-trustcache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static string Fp(string tag) => TrustStoreChild.Fp(tag);

    [Fact]
    public void ReadsOfAnUnchangedFile_DoNotReadIt_AChangeFromOutsideIsSeenOnTheNextRead()
    {
        var store = OspTrustStore.Open(_dir);
        store.LastSeenFlushDelay = TimeSpan.Zero;
        for (int i = 0; i < 200; i++) store.RecordAuthenticated(Fp($"peer{i}"), $"Peer {i}");
        long reads = store.FileReads, writes = store.FileWrites;
        Assert.Equal(200, writes);
        Assert.Equal(0, reads); // every write left the cache current: nothing was read back

        var other = OspTrustStore.Open(_dir); // a second store of the same directory shares the cache
        for (int i = 0; i < 500; i++)
        {
            Assert.True(store.IsTrusted(Fp($"peer{i % 200}")));
            Assert.NotNull(other.Find(Fp($"peer{i % 200}")));
        }
        store.Reload();
        Assert.True(store.FileReads == reads, $"{store.FileReads - reads} reads of an unchanged file for 1000 look-ups");

        // Another process rewrites the file (same layout, one peer fewer): seen by the next look-up, with one read.
        string path = Path.Combine(_dir, OspTrustStore.FileName);
        string text = File.ReadAllText(path);
        var replaced = new OspTrustStoreProbe(text).Without(Fp("peer7"));
        File.WriteAllText(path + ".tmp", replaced);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path + ".tmp", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(path + ".tmp", path, overwrite: true);
        Assert.False(store.IsTrusted(Fp("peer7")));
        Assert.True(store.IsTrusted(Fp("peer8")));
        Assert.Equal(reads + 1, store.FileReads);
        Assert.Equal(199, other.TrustedPeersFresh().Count);
        Assert.Equal(reads + 1, store.FileReads);
    }

    [Fact]
    public void PrivateNameBookkeeping_IsOneWrite_AndNoneWhenNothingChanged()
    {
        var store = OspTrustStore.Open(_dir);
        store.LastSeenFlushDelay = TimeSpan.Zero;
        string fp = Fp("camera");
        store.RecordAuthenticated(fp, "private-abcdefghij");
        long reads = store.FileReads, writes = store.FileWrites;

        var record = store.RecordPrivateName(fp, advertisesPrivately: true, realName: "Front Door");
        Assert.NotNull(record);
        Assert.Equal("Front Door", record!.Name);
        Assert.True(record.Marks.HasFlag(OspPeerMarks.PrivateName));
        Assert.Equal(writes + 1, store.FileWrites);

        // The next connect of the same private agent changes nothing: no write.
        record = store.RecordPrivateName(fp, advertisesPrivately: true, realName: "Front Door");
        Assert.Equal("Front Door", record!.Name);
        Assert.Equal(writes + 1, store.FileWrites);

        // It advertises under its real name again: the mark goes, in one write.
        record = store.RecordPrivateName(fp, advertisesPrivately: false, realName: null);
        Assert.False(record!.Marks.HasFlag(OspPeerMarks.PrivateName));
        Assert.Equal(writes + 2, store.FileWrites);
        Assert.Equal(reads, store.FileReads);

        // A peer that is not trusted is not touched.
        Assert.Null(store.RecordPrivateName(Fp("stranger"), advertisesPrivately: true, realName: "X"));
        Assert.Equal(writes + 2, store.FileWrites);
        Assert.Null(OspTrustStore.Open(_dir).Find(Fp("stranger")));
    }

    /// <summary>Edits the file's JSON the way another process's write would (one record removed).</summary>
    private sealed class OspTrustStoreProbe(string text)
    {
        public string Without(string fingerprint)
        {
            var doc = System.Text.Json.Nodes.JsonNode.Parse(text)!;
            var peers = doc["peers"]!.AsArray();
            for (int i = peers.Count - 1; i >= 0; i--)
                if ((string?)peers[i]!["fp"] == fingerprint) peers.RemoveAt(i);
            return doc.ToJsonString();
        }
    }
}

internal static class TrustStoreTestExtensions
{
    public static IReadOnlyList<OspTrustedPeer> TrustedPeersFresh(this OspTrustStore store)
    {
        store.Reload();
        return store.TrustedPeers;
    }
}
