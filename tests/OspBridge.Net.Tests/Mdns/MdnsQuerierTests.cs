using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Net.Tests.Mdns;

/// <summary>Not in parallel with other test classes: one test measures retained memory with the process-wide GC.GetTotalMemory,
/// which other classes' buffers (e.g. the 1 MiB GRO arenas of GroArenaTests) inflated once (session 17: 2382 B per record).</summary>
[CollectionDefinition(nameof(MdnsQuerierTests), DisableParallelization = true)]
public sealed class MdnsQuerierTestsCollection;

[Collection(nameof(MdnsQuerierTests))]
public sealed class MdnsQuerierTests
{
    private static readonly MdnsResponderOptions ShortTtl = new()
    {
        HostRecordTtl = TimeSpan.FromSeconds(10),
        OtherRecordTtl = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public void ContinuousQuerying_BacksOffExponentially_To60Minutes()
    {
        var sim = new MdnsSim(1);
        var q = sim.Nodes[0].Querier;
        q.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromHours(5));
        var times = sim.Nodes[0].Sent.Where(s => s.Msg.Questions.Any(x => x.Type == DnsRecordType.PTR)).Select(s => s.At).ToList();
        Assert.InRange(times[0], TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(120));
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
        for (int i = 0; i < 12; i++) Assert.Equal(TimeSpan.FromSeconds(1 << i), gaps[i]); // 1 s, 2 s, ... 2048 s
        Assert.Equal(TimeSpan.FromMinutes(60), gaps[12]);  // capped
        Assert.All(gaps.Skip(12), g => Assert.Equal(TimeSpan.FromMinutes(60), g));
    }

    [Fact]
    public void ResponderKilled_RefreshQueriesAt80To97Percent_ThenExpiry()
    {
        var sim = new MdnsSim(2, ro: ShortTtl);
        sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(4));
        Assert.Single(sim.Nodes[1].Querier.Services);
        var lastHeard = sim.Nodes[0].Sent.Last(s => s.Msg.IsResponse && s.Msg.Answers.Concat(s.Msg.Additionals).Any(r => r is SrvRecord)).At + TimeSpan.FromMilliseconds(1);
        sim.Nodes[0].Alive = false; // SIGKILL: no goodbye
        int before = sim.Nodes[1].Sent.Count;
        sim.RunFor(TimeSpan.FromSeconds(30));

        // SRV (TTL 10 s) refresh queries at 80, 85, 90, 95 % (+0–2 %) of the TTL.
        var srvQueries = sim.Nodes[1].Sent.Skip(before)
            .Where(s => s.Msg.Questions.Any(x => x.Type == DnsRecordType.SRV)).Select(s => (s.At - lastHeard).TotalSeconds).ToList();
        Assert.True(srvQueries.Count >= 4, $"refresh queries: {string.Join(", ", srvQueries)}");
        double[] expected = [8.0, 8.5, 9.0, 9.5];
        for (int i = 0; i < 4; i++) Assert.InRange(srvQueries[i], expected[i], expected[i] + 0.2 + 0.001);

        var removed = Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceRemoved);
        Assert.InRange((removed.At - lastHeard).TotalSeconds, 9.99, 10.01); // SRV/A expired at 100 % of 10 s
        Assert.Empty(sim.Nodes[1].Querier.Services);
    }

    [Fact]
    public void LiveResponder_AnswersRefreshes_ServiceNeverRemoved()
    {
        var sim = new MdnsSim(2, ro: ShortTtl);
        sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(200)); // 20 host TTLs
        Assert.Single(sim.Nodes[1].Querier.Services);
        Assert.DoesNotContain(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceRemoved);
        Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceAdded);
    }

    [Fact]
    public void DiscoveryWithLoss_StillResolves()
    {
        var sim = new MdnsSim(2, seed: 3);
        sim.LossRate = 0.3;
        sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(20));
        var s = Assert.Single(sim.Nodes[1].Querier.Services);
        Assert.Equal(1000, s.Port);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), Assert.Single(s.Addresses));
    }

    [Fact]
    public void ResolveHost_UuidLocal_ReturnsAddresses()
    {
        var sim = new MdnsSim(2);
        var name = DnsName.Parse("0f2d7c1e-3b7a-4f3e-9c61-5a2b8e9d0a11.local");
        sim.Nodes[0].Responder.AddHost(name, [IPAddress.Parse("10.0.0.1"), IPAddress.Parse("fe80::1")], sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(2));
        var t0 = sim.Now;
        sim.Nodes[1].Querier.ResolveHost(name, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(1));
        var ev = Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.HostAddressesChanged);
        Assert.True(ev.At - t0 < TimeSpan.FromMilliseconds(10));
        Assert.Contains(IPAddress.Parse("10.0.0.1"), ev.Ev.Addresses!);
        Assert.Contains(ev.Ev.Addresses!, a => a.IsIPv6LinkLocal && a.ScopeId == 1); // scope = interface index
    }

    [Fact]
    public void Cache_IsBoundedPerResponderAndOverall()
    {
        var q = new MdnsQuerier(1, new MdnsQuerierOptions { MaxRecordsPerResponder = 50, MaxCacheRecords = 120 });
        var now = TimeSpan.Zero;
        for (int src = 1; src <= 5; src++)
        {
            for (int batch = 0; batch < 10; batch++)
            {
                var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
                for (int i = 0; i < 20; i++)
                    m.Answers.Add(new ARecord(DnsName.Parse($"h{src}-{batch}-{i}.local"), IPAddress.Parse($"10.1.{src}.{i + 1}"), 120));
                q.Receive(m.Encode(), new IPEndPoint(IPAddress.Parse($"10.0.0.{src}"), 5353), now);
            }
        }
        Assert.Equal(120, q.CachedRecordCount);
        Assert.Equal(5 * 200 - 120, q.DroppedRecords);
    }

    private static readonly DnsName AgentType = DnsName.Parse("_openscreen._udp.local");

    /// <summary>One agent's announcement as a real responder sends it: PTR answer, SRV + TXT + A additionals.</summary>
    private static DnsMessage AgentAnnouncement(int n)
    {
        var instance = DnsName.Parse($"Agent {n:D5}._openscreen._udp.local");
        var host = DnsName.Parse($"agent-{n:D5}.local");
        var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
        m.Answers.Add(new PtrRecord(AgentType, instance, 4500));
        m.Additionals.Add(new SrvRecord(instance, 0, 0, (ushort)(10000 + n % 50000), host, 120));
        m.Additionals.Add(new TxtRecord(instance, [System.Text.Encoding.ASCII.GetBytes($"fp=agent{n:D5}")], 4500));
        m.Additionals.Add(new ARecord(host, new IPAddress([10, (byte)(n >> 16), (byte)(n >> 8), (byte)n]), 120));
        return m;
    }

    private static IPEndPoint SourceOf(int n) => new(new IPAddress([10, (byte)(200 + (n >> 16)), (byte)(n >> 8), (byte)n]), 5353);

    [Fact]
    public void FloodFromOneSource_StaysAtThePerResponderBound()
    {
        var q = new MdnsQuerier(1, new MdnsQuerierOptions().ForAgents(1000));
        q.Browse(AgentType, TimeSpan.Zero);
        var flooder = new IPEndPoint(IPAddress.Parse("10.9.9.9"), 5353);
        var now = TimeSpan.FromSeconds(1);
        for (int batch = 0; batch < 500; batch++)
        {
            var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
            for (int i = 0; i < 40; i++)
                m.Answers.Add(new ARecord(DnsName.Parse($"junk-{batch}-{i}.local"), IPAddress.Parse("10.9.9.9"), 4500));
            q.Receive(m.Encode(), flooder, now);
        }
        Assert.Equal(256, q.CachedRecordCount);
        Assert.Equal(500 * 40 - 256, q.DroppedRecords);
        Assert.Equal(0, q.EvictedRecords);
        // The flood does not keep a real agent out.
        q.Receive(AgentAnnouncement(1).Encode(), SourceOf(1), now);
        Assert.Single(q.Services);
    }

    [Fact]
    public void ThousandsOfAgentsFromDistinctSources_AreAllKept_FloodersAtTheirBoundAreEvictedFirst()
    {
        const int agents = 1200;
        var options = new MdnsQuerierOptions().ForAgents(agents);
        Assert.Equal(agents * MdnsQuerierOptions.RecordsPerAgent, options.MaxCacheRecords);
        var q = new MdnsQuerier(1, options);
        q.Browse(AgentType, TimeSpan.Zero);
        var now = TimeSpan.FromSeconds(1);

        // First the cache is filled completely by flooders, each at its per-source bound (many spoofed addresses).
        int flooders = options.MaxCacheRecords / options.MaxRecordsPerResponder + 1;
        long before = GC.GetTotalMemory(forceFullCollection: true);
        for (int f = 0; f < flooders; f++)
        {
            var from = new IPEndPoint(new IPAddress([10, 9, (byte)(f >> 8), (byte)f]), 5353);
            for (int batch = 0; batch < options.MaxRecordsPerResponder / 32; batch++)
            {
                var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
                for (int i = 0; i < 32; i++)
                    m.Answers.Add(new ARecord(DnsName.Parse($"junk-{f}-{batch}-{i}.local"), IPAddress.Parse("10.9.9.9"), 4500));
                q.Receive(m.Encode(), from, now);
            }
        }
        long bytesPerRecord = (GC.GetTotalMemory(forceFullCollection: true) - before) / q.CachedRecordCount;
        Assert.Equal(options.MaxCacheRecords, q.CachedRecordCount);
        long droppedFlood = q.DroppedRecords, evictedFlood = q.EvictedRecords; // the last flooder took its share from the others

        // Then the agents arrive, one source address each: every one of them is kept.
        for (int n = 0; n < agents; n++) q.Receive(AgentAnnouncement(n).Encode(), SourceOf(n), now);
        Assert.True(q.Services.Count == agents, $"{q.Services.Count} of {agents} agents resolved; cached {q.CachedRecordCount}, dropped {q.DroppedRecords}, evicted {q.EvictedRecords}");
        Assert.Equal(options.MaxCacheRecords, q.CachedRecordCount);
        Assert.Equal(evictedFlood + agents * 4, q.EvictedRecords);
        Assert.Equal(droppedFlood + agents * 4, q.DroppedRecords); // nothing of an agent was refused
        Assert.Equal(agents + flooders, q.CachedSourceCount);
        // Memory stays bounded by the cap (measured here, written down in docs/security.md).
        Assert.True(bytesPerRecord < 2048, $"{bytesPerRecord} bytes retained per cached record");
    }

    [Fact]
    public void CacheFlush_ExpiresOlderRecordsAfterOneSecond()
    {
        var q = new MdnsQuerier(1);
        var name = DnsName.Parse("h.local");
        q.ResolveHost(name, TimeSpan.Zero);
        var src = new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5353);
        DnsMessage Resp(string addr)
        {
            var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag) };
            m.Answers.Add(new ARecord(name, IPAddress.Parse(addr), 120, cacheFlush: true));
            return m;
        }
        q.Receive(Resp("10.0.0.1"), src, TimeSpan.Zero);
        q.Receive(Resp("10.0.0.2"), src, TimeSpan.FromSeconds(5));
        Assert.Equal(2, q.GetAddresses(name, TimeSpan.FromSeconds(5.5)).Count);
        q.HandleDeadline(TimeSpan.FromSeconds(6.01));
        Assert.Equal([IPAddress.Parse("10.0.0.2")], q.GetAddresses(name, TimeSpan.FromSeconds(6.01)));
    }

    [Fact]
    public void KnownAnswers_AreIncludedInContinuousQueries()
    {
        var sim = new MdnsSim(2);
        sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(10));
        int responderSent = sim.Nodes[0].Sent.Count;
        var lastQuery = sim.Nodes[1].Sent.Last(s => s.Msg.Questions.Any(x => x.Type == DnsRecordType.PTR));
        Assert.Contains(lastQuery.Msg.Answers, r => r is PtrRecord p && p.Target.Labels[0] == "TV");
        sim.RunFor(TimeSpan.FromSeconds(20));
        // With the known answer in the query the responder stays silent.
        Assert.Equal(responderSent, sim.Nodes[0].Sent.Count);
    }

    /// <summary>The time from asking to the ServiceAdded event, on a network whose caches are empty.</summary>
    private static TimeSpan TimeToService(bool resolveByName, int seed)
    {
        var sim = new MdnsSim(2, ro: ShortTtl, seed: seed);
        sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.RunFor(TimeSpan.FromSeconds(40)); // probing + announcements heard, then expired from node 1's cache (not in use)
        Assert.Empty(sim.Nodes[1].Querier.Services);
        TimeSpan start = sim.Now;
        var q = sim.Nodes[1].Querier;
        q.Browse(MdnsSim.Type, sim.Now);
        if (resolveByName) q.ResolveInstance(MdnsSim.Type.Prepend("TV"), sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(2));
        var added = Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceAdded && e.At >= start);
        Assert.Equal(1000, added.Ev.Service!.Port);
        return added.At - start;
    }

    [Fact]
    public void ResolvingAKnownInstance_IsAnsweredAtOnce_BrowsingWaitsForTheJitterAndTheSharedAnswerDelay()
    {
        for (int seed = 1; seed <= 5; seed++)
        {
            // SRV/TXT are unique records: no 20–120 ms delay on either side; the link delay is 1 ms each way.
            Assert.InRange(TimeToService(resolveByName: true, seed), TimeSpan.Zero, TimeSpan.FromMilliseconds(10));
            // Browse only: first query after 20–120 ms, the shared PTR answer after another 20–120 ms.
            Assert.InRange(TimeToService(resolveByName: false, seed), TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(250));
        }
    }

    [Fact]
    public void ResolvingAnInstanceThatDoesNotExist_BacksOffAndStopsWhenAsked()
    {
        var sim = new MdnsSim(1);
        var q = sim.Nodes[0].Querier;
        q.Browse(MdnsSim.Type, sim.Now);
        var nobody = MdnsSim.Type.Prepend("Nobody");
        q.ResolveInstance(nobody, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(10));
        var asked = sim.Nodes[0].Sent.Where(s => s.Msg.Questions.Any(x => x.Type == DnsRecordType.SRV && x.Name == nobody)).Select(s => s.At).ToList();
        Assert.InRange(asked.Count, 3, 5); // 0, 1, 3, 7 s: backing off, not flooding
        Assert.Equal(TimeSpan.Zero, asked[0]);
        q.StopResolveInstance(nobody, sim.Now);
        int before = sim.Nodes[0].Sent.Count(s => s.Msg.Questions.Any(x => x.Name == nobody));
        sim.RunFor(TimeSpan.FromMinutes(5));
        Assert.Equal(before, sim.Nodes[0].Sent.Count(s => s.Msg.Questions.Any(x => x.Name == nobody)));
        Assert.Empty(q.Services);
    }
}
