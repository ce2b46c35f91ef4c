using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Tests.Auth;
using OspBridge.Osp.Trust;
using Xunit.Abstractions;

namespace OspBridge.Osp.Tests.Trust;

/// <summary>
/// Trust-store write amplification (session 6): the reconnect of an already trusted peer must not rewrite the whole
/// file on the authentication path. 1000 trusted peers, 32 concurrent authentications over real OSP/QUIC connections
/// on loopback; the last-seen updates are coalesced into one later write.
/// </summary>
public sealed class TrustStoreScaleTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-trust-scale-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static readonly DateTimeOffset Paired = new(2026, 11, 1, 8, 0, 0, TimeSpan.Zero);

    /// <summary>Writes a store of <paramref name="extra"/> synthetic trusted peers plus <paramref name="fingerprints"/> (all paired at <see cref="Paired"/>), in one write.</summary>
    private void Seed(IEnumerable<string> fingerprints, int extra)
    {
        var peers = Enumerable.Range(0, extra).Select(i => TrustStoreChild.Fp("seed-" + i))
            .Concat(fingerprints)
            .Select((fp, i) => new OspTrustedPeer
            {
                Fingerprint = fp, DisplayNames = ["peer " + i], FirstSeen = Paired, LastSeen = Paired, Trusted = true,
                Endpoints = ["192.0.2.1:4433"], Grants = [new OspAppGrant("ospbridge", Paired)],
            }).ToList();
        OspBridge.Crypto.Storage.StatePermissions.Prepare(_dir);
        OspBridge.Crypto.Storage.StateFileWriter.Write(Path.Combine(_dir, OspTrustStore.FileName), OspTrustStoreFile.Format(peers, 1));
    }

    private string FileBytes() => Convert.ToHexString(File.ReadAllBytes(Path.Combine(_dir, OspTrustStore.FileName)));

    [Fact]
    public async Task ThousandTrustedPeers_32ConcurrentAuthenticationsSucceed_LastSeenWrittenOnceLater()
    {
        const int Clients = 32;
        var server = new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Bridge"), DisplayName = "Bridge" };
        var clients = Enumerable.Range(0, Clients).Select(i => new OspAgentOptions { Identity = AgentIdentity.CreateEphemeral("Device " + i), DisplayName = "Device " + i }).ToList();
        Seed(clients.Select(c => c.Identity.Fingerprint), 1000 - Clients);
        var store = OspTrustStore.Open(_dir);
        store.LastSeenFlushDelay = TimeSpan.FromMinutes(10); // flushed by hand below, so the test sees the file before and after
        Assert.Equal(1000, store.TrustedPeers.Count);
        string before = FileBytes();

        using var cts = new CancellationTokenSource(Timeout);
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), server, cts.Token);
        var accepted = new List<OspConnection>();
        var connects = clients.Select(c => OspConnection.ConnectAsync(listener.LocalEndPoint, server.Identity.Hostname, server.Identity.Fingerprint, c, cts.Token)).ToList();
        for (int i = 0; i < Clients; i++) accepted.Add(await listener.AcceptAsync(cts.Token).WaitAsync(Timeout, cts.Token));
        var clientConnections = await Task.WhenAll(connects);
        try
        {
            // All 32 authenticate at once: the server side against the 1000-peer store on disk, the client side trusting the server.
            var serverTimes = new double[Clients];
            var serverSide = accepted.Select((s, i) => Task.Run(async () =>
            {
                long t0 = Stopwatch.GetTimestamp();
                var outcome = await OspPairingSession.EstablishAsync(s, new OspAuthenticationOptions { Identity = server.Identity, IsAdvertiser = true, PeerDisplayName = null },
                    new TestPairingHost(), store, cts.Token);
                serverTimes[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                return outcome;
            })).ToList();
            var clientSide = clientConnections.Select((c, i) => OspPairingSession.EstablishAsync(c, OspAuthenticationOptions.ForListener(clients[i].Identity, server.Identity.AuthToken),
                new TestPairingHost(), new TrustingStore(server.Identity.Fingerprint), cts.Token)).ToList();
            var outcomes = await Task.WhenAll(serverSide).WaitAsync(Timeout, cts.Token);
            var clientOutcomes = await Task.WhenAll(clientSide).WaitAsync(Timeout, cts.Token);
            int authenticated = outcomes.Count(o => o.IsAuthenticated && o.WasTrusted);
            Assert.True(authenticated == Clients, $"{authenticated} of {Clients} server-side authentications succeeded (statuses: {string.Join(",", outcomes.Select(o => o.Status))})");
            Assert.All(clientOutcomes, o => Assert.True(o.IsAuthenticated, $"client side: {o.Status}"));
            Array.Sort(serverTimes);
            output.WriteLine($"1000 trusted peers, {Clients} concurrent trusted authentications (server side, incl. the trust check and last-seen update): p50 {serverTimes[Clients / 2]:0.0} ms, max {serverTimes[^1]:0.0} ms");

            // Nothing was written on the authentication path; the instance already shows the new last-seen times.
            Assert.Equal(before, FileBytes());
            Assert.Equal(Clients, store.PendingLastSeenUpdates);
            Assert.All(clients, c => Assert.True(store.Peers.Single(p => p.Fingerprint == c.Identity.Fingerprint).LastSeen > Paired));

            // One write carries all 32.
            store.Flush();
            Assert.Equal(0, store.PendingLastSeenUpdates);
            var reopened = OspTrustStore.Open(_dir).Peers;
            Assert.Equal(1000, reopened.Count(p => p.Trusted));
            var touched = reopened.Where(p => p.LastSeen > Paired).Select(p => p.Fingerprint).ToHashSet();
            Assert.True(touched.SetEquals(clients.Select(c => c.Identity.Fingerprint)), $"{touched.Count} records got a new last-seen time");
            Assert.All(reopened.Where(p => touched.Contains(p.Fingerprint)), p => Assert.StartsWith("127.0.0.1:", p.Endpoints[^1], StringComparison.Ordinal));
        }
        finally
        {
            foreach (var c in clientConnections.Concat(accepted)) await c.DisposeAsync();
        }
    }

    [Fact]
    public void ThousandTrustedPeers_ReconnectTouchCostsNoWrite_TimedPerCall()
    {
        var fps = Enumerable.Range(0, 1000).Select(i => TrustStoreChild.Fp("peer-" + i)).ToList();
        Seed(fps, 0);
        var store = OspTrustStore.Open(_dir);
        store.LastSeenFlushDelay = TimeSpan.FromMinutes(10);
        string before = FileBytes();
        var times = new double[32];
        Parallel.For(0, 32, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            long t0 = Stopwatch.GetTimestamp();
            Assert.True(store.IsTrusted(fps[i * 31]));
            store.RecordAuthenticated(fps[i * 31], null, $"192.0.2.9:{5000 + i}");
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        });
        Array.Sort(times);
        output.WriteLine($"IsTrusted + RecordAuthenticated of a trusted peer, 1000-peer store, 32 calls 8 at a time: p50 {times[16]:0.00} ms, max {times[^1]:0.00} ms");
        Assert.Equal(before, FileBytes());
        // the instance's own view holds every one of the 32 concurrent touches (it lost some while two touches rebuilt it
        // at once, session 11)
        for (int i = 0; i < 32; i++) Assert.Equal($"192.0.2.9:{5000 + i}", store.Peers.Single(p => p.Fingerprint == fps[i * 31]).Endpoints[^1]);
        store.Flush();
        var after = OspTrustStore.Open(_dir).Peers;
        for (int i = 0; i < 32; i++) Assert.Equal($"192.0.2.9:{5000 + i}", after.Single(p => p.Fingerprint == fps[i * 31]).Endpoints[^1]);
    }

    [Fact]
    public void CoalescedTouchIsWrittenByTheTimer_ARevokeIsNeverUndone_ANameChangeIsWrittenAtOnce()
    {
        var time = new FakeTimeProvider(Paired);
        string a = TrustStoreChild.Fp("a"), b = TrustStoreChild.Fp("b");
        Seed([a, b], 0);
        var store = OspTrustStore.Open(_dir, time);
        string before = FileBytes();
        time.Advance(TimeSpan.FromMinutes(5));
        store.RecordAuthenticated(a, "peer 0", "192.0.2.5:1");
        store.RecordAuthenticated(b, null, "192.0.2.6:1");
        Assert.Equal(before, FileBytes());
        Assert.Equal(2, store.PendingLastSeenUpdates);

        // Another process revokes b before our flush: the flush must not bring it back.
        Assert.True(OspTrustStore.Open(_dir).Revoke(b));
        time.Advance(store.LastSeenFlushDelay); // the timer writes
        Assert.Equal(0, store.PendingLastSeenUpdates);
        var peers = OspTrustStore.Open(_dir).Peers;
        var pa = Assert.Single(peers);
        Assert.Equal(a, pa.Fingerprint);
        Assert.Equal(Paired + TimeSpan.FromMinutes(5), pa.LastSeen);
        Assert.Equal("192.0.2.5:1", pa.Endpoints[^1]);

        // A new display name is not a touch: written at once (the suspicion rules read names).
        time.Advance(TimeSpan.FromMinutes(1));
        store.RecordAuthenticated(a, "Renamed", null);
        Assert.Equal(0, store.PendingLastSeenUpdates);
        Assert.Equal("Renamed", OspTrustStore.Open(_dir).Find(a)!.Name);
    }

    /// <summary>A client-side store that trusts exactly the server.</summary>
    private sealed class TrustingStore(string fingerprint) : IOspTrustStore
    {
        public bool IsTrusted(string fp) => fp == fingerprint;

        public void RecordAuthenticated(string fp, string? displayName, string? endpoint)
        {
        }

        public void RecordAuthFailure(string fp, string? displayName, string? endpoint)
        {
        }
    }
}
