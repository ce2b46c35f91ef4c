using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Net.Tests.Mdns;

public sealed class MdnsResponderTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>One simulated node whose "TV" service on tv.local is announced (5 s of virtual time: probed and announced).</summary>
    private static (MdnsSim Sim, SimNode Node) AnnouncedTv(int seed = 1)
    {
        var sim = new MdnsSim(1, seed: seed);
        var n = sim.Nodes[0];
        sim.AddService(n, "TV", 1000, "tv.local");
        sim.RunFor(TimeSpan.FromSeconds(5));
        return (sim, n);
    }

    [Fact]
    public void Probing_ThreeProbes250msApart_ThenAnnouncements()
    {
        var sim = new MdnsSim(1);
        var n = sim.Nodes[0];
        var hostName = DnsName.Parse("tv.local");
        int id = n.Responder.AddService(new MdnsServiceRegistration("Front Door", MdnsSim.Type, hostName, 4433, new TxtProperties().Set("fp", "abc")), sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(5));

        var probes = n.Sent.Where(s => !s.Msg.IsResponse && s.Msg.Authorities.Count > 0).ToList();
        Assert.Equal(3, probes.Count);
        Assert.InRange(probes[0].At, TimeSpan.Zero, Ms(250));
        Assert.Equal(Ms(250), probes[1].At - probes[0].At);
        Assert.Equal(Ms(250), probes[2].At - probes[1].At);
        Assert.True(probes[0].Msg.Questions[0].UnicastResponse); // first probe asks for unicast (§8.1)
        Assert.False(probes[1].Msg.Questions[0].UnicastResponse);
        Assert.Equal(DnsRecordType.ANY, probes[0].Msg.Questions[0].Type);
        Assert.Equal("Front Door._openscreen._udp.local", probes[0].Msg.Questions[0].Name.ToString());
        Assert.Contains(probes[0].Msg.Authorities, r => r is SrvRecord { Port: 4433 });
        Assert.Contains(probes[0].Msg.Authorities, r => r is TxtRecord);

        var announces = n.Sent.Where(s => s.Msg.IsResponse && s.To is null).ToList();
        Assert.Equal(2, announces.Count);
        Assert.Equal(probes[2].At + Ms(250), announces[0].At);
        Assert.Equal(TimeSpan.FromSeconds(1), announces[1].At - announces[0].At);
        var a = announces[0].Msg;
        Assert.Contains(a.Answers, r => r is PtrRecord { CacheFlush: false } p && p.Name == MdnsSim.Type);
        Assert.Contains(a.Answers, r => r is SrvRecord { CacheFlush: true, Ttl: 120 });
        Assert.Contains(a.Answers, r => r is TxtRecord { CacheFlush: true, Ttl: 4500 });
        Assert.True(n.Responder.IsEstablished(id));
        Assert.Single(n.ResponderEvents, e => e.Ev.Kind == MdnsResponderEventKind.Established && e.Ev.RegistrationId == id);
    }

    [Fact]
    public void SimultaneousProbes_SameName_OneIsRenamed()
    {
        for (int seed = 1; seed <= 20; seed++)
        {
            var sim = new MdnsSim(3, seed: seed);
            int a = sim.AddService(sim.Nodes[0], "Front Door", 1000, "a.local");
            int b = sim.AddService(sim.Nodes[1], "Front Door", 2000, "b.local");
            sim.Nodes[2].Querier.Browse(MdnsSim.Type, sim.Now);
            sim.RunFor(TimeSpan.FromSeconds(10));

            var names = new[] { sim.Nodes[0].Responder.GetName(a).Labels[0], sim.Nodes[1].Responder.GetName(b).Labels[0] };
            Assert.Contains("Front Door", names);
            Assert.Contains("Front Door (2)", names);
            var seen = sim.Nodes[2].Querier.Services.Select(s => (s.InstanceName, s.Port)).OrderBy(x => x.Port).ToList();
            Assert.Equal(2, seen.Count);
            Assert.Equal(names[0], seen[0].InstanceName);
            Assert.Equal(names[1], seen[1].InstanceName);
            var renamedNode = names[0] == "Front Door" ? sim.Nodes[1] : sim.Nodes[0];
            Assert.Contains(renamedNode.ResponderEvents, e => e.Ev.Kind == MdnsResponderEventKind.Renamed && e.Ev.Name.Labels[0] == "Front Door (2)");
        }
    }

    [Fact]
    public void LateRegistration_OfTakenName_IsRenamedByDefence()
    {
        var sim = new MdnsSim(2);
        sim.AddService(sim.Nodes[0], "Front Door", 1000, "a.local");
        sim.RunFor(TimeSpan.FromSeconds(3));
        int b = sim.AddService(sim.Nodes[1], "Front Door", 2000, "b.local");
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.Equal("Front Door (2)", sim.Nodes[1].Responder.GetName(b).Labels[0]);
        // The defender answered the probe (it did not rename itself).
        Assert.DoesNotContain(sim.Nodes[0].ResponderEvents, e => e.Ev.Kind == MdnsResponderEventKind.Renamed);
    }

    [Fact]
    public void TieBreak_LexicographicallyLaterRecordSetWins()
    {
        var name = DnsName.Parse("x.local");
        var low = new List<DnsRecord> { new ARecord(name, IPAddress.Parse("10.0.0.1"), 120) };
        var high = new List<DnsRecord> { new ARecord(name, IPAddress.Parse("10.0.0.2"), 120) };
        Assert.True(MdnsResponder.CompareRecordSets(low, high) < 0);
        Assert.True(MdnsResponder.CompareRecordSets(high, low) > 0);
        Assert.Equal(0, MdnsResponder.CompareRecordSets(high, [.. high]));
        // Type compares before rdata: AAAA (28) beats A (1) whatever the address.
        var v6 = new List<DnsRecord> { new AaaaRecord(name, IPAddress.Parse("::1"), 120) };
        Assert.True(MdnsResponder.CompareRecordSets(v6, high) > 0);
        // More records win when the common prefix is equal.
        Assert.True(MdnsResponder.CompareRecordSets([.. low, .. high], low) > 0);
    }

    [Fact]
    public void KnownAnswerSuppression_HalfTtlRule()
    {
        var (sim, n) = AnnouncedTv();
        var instance = DnsName.Parse("TV._openscreen._udp.local");
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353);

        DnsMessage Query(uint knownTtl)
        {
            var m = new DnsMessage();
            m.Questions.Add(new DnsQuestion(MdnsSim.Type, DnsRecordType.PTR));
            if (knownTtl > 0) m.Answers.Add(new PtrRecord(MdnsSim.Type, instance, knownTtl));
            return m;
        }

        int before = n.Sent.Count;
        sim.Inject(client, Query(4500 / 2));       // exactly half: suppressed
        sim.RunFor(TimeSpan.FromSeconds(2));
        Assert.Equal(before, n.Sent.Count);
        sim.Inject(client, Query(4500 / 2 - 1));   // below half: answered
        sim.RunFor(TimeSpan.FromSeconds(2));
        var resp = Assert.Single(n.Sent.Skip(before));
        Assert.True(resp.Msg.IsResponse);
        Assert.Contains(resp.Msg.Answers, r => r is PtrRecord p && p.Target == instance);
        // Additional records carry SRV, TXT, the host's address and NSECs (RFC 6763 §12).
        Assert.Contains(resp.Msg.Additionals, r => r is SrvRecord);
        Assert.Contains(resp.Msg.Additionals, r => r is TxtRecord);
        Assert.Contains(resp.Msg.Additionals, r => r is ARecord);
        Assert.Contains(resp.Msg.Additionals, r => r is NsecRecord);
    }

    [Fact]
    public void SharedAnswer_DelayedBetween20And120ms_AndRateLimitedTo1PerSecond()
    {
        var (sim, n) = AnnouncedTv(seed: 7);
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353);
        var q = new DnsMessage();
        q.Questions.Add(new DnsQuestion(MdnsSim.Type, DnsRecordType.PTR));
        int before = n.Sent.Count;
        var t0 = sim.Now + Ms(1); // delivery time
        sim.Inject(client, q);
        sim.RunFor(Ms(300));
        sim.Inject(client, q);      // within 1 s of the multicast: deferred until the second is over
        sim.RunFor(Ms(300));
        var sent = n.Sent.Skip(before).ToList();
        var first = Assert.Single(sent);
        Assert.InRange(first.At - t0, Ms(20), Ms(120));
        sim.RunFor(TimeSpan.FromSeconds(2));
        sent = n.Sent.Skip(before).ToList();
        Assert.Equal(2, sent.Count);
        Assert.Equal(first.At + TimeSpan.FromSeconds(1), sent[1].At); // never two multicasts of a record within 1 s
        Assert.Contains(sent[1].Msg.Answers, r => r is PtrRecord);
    }

    [Fact]
    public void UniqueAnswer_IsImmediate_AndNsecForMissingType()
    {
        var (sim, n) = AnnouncedTv();
        var q = new DnsMessage();
        q.Questions.Add(new DnsQuestion(DnsName.Parse("tv.local"), DnsRecordType.AAAA));
        int before = n.Sent.Count;
        sim.Inject(new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353), q);
        sim.RunFor(Ms(50));
        var r = Assert.Single(n.Sent.Skip(before));
        Assert.Equal(sim.Now - Ms(50) + Ms(1), r.At); // answered at delivery time
        var nsec = Assert.IsType<NsecRecord>(Assert.Single(r.Msg.Answers));
        Assert.True(nsec.HasType(DnsRecordType.A));
        Assert.False(nsec.HasType(DnsRecordType.AAAA));
    }

    [Fact]
    public void QuBit_RecentlyMulticast_AnsweredByUnicast()
    {
        var (sim, _) = AnnouncedTv();
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353);
        var q = new DnsMessage();
        q.Questions.Add(new DnsQuestion(DnsName.Parse("TV._openscreen._udp.local"), DnsRecordType.SRV, UnicastResponse: true));
        sim.Inject(client, q);
        sim.RunFor(Ms(100));
        var (_, to, msg) = (sim.Extra[^1].At, sim.Extra[^1].To, sim.Extra[^1].Msg);
        Assert.Equal(client, to);
        Assert.Contains(msg.Answers, r => r is SrvRecord { Port: 1000 });
    }

    [Fact]
    public void LegacyUnicastQuery_EchoesIdAndQuestion_NoCacheFlush_TtlAtMost10()
    {
        var (sim, _) = AnnouncedTv();
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 40000);
        var q = new DnsMessage { Header = new DnsHeader(0x1234, 0) };
        q.Questions.Add(new DnsQuestion(DnsName.Parse("tv.local"), DnsRecordType.A));
        sim.Inject(client, q);
        sim.RunFor(Ms(50));
        var reply = Assert.Single(sim.Extra);
        Assert.Equal(client, reply.To);
        Assert.Equal(0x1234, reply.Msg.Header.Id);
        Assert.Equal("tv.local", Assert.Single(reply.Msg.Questions).Name.ToString());
        var a = Assert.IsType<ARecord>(Assert.Single(reply.Msg.Answers));
        Assert.False(a.CacheFlush);
        Assert.Equal(10u, a.Ttl);
        Assert.All(reply.Msg.Additionals, r => Assert.True(r.Ttl <= 10 && !r.CacheFlush));
    }

    [Fact]
    public void TxtChange_IsReannounced_AndQuerierUpdates()
    {
        var sim = new MdnsSim(2);
        int id = sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local", new TxtProperties().Set("mv", [0]));
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(5));
        sim.Nodes[0].Responder.UpdateServiceTxt(id, new TxtProperties().Set("mv", [1]), sim.Now);
        sim.RunFor(TimeSpan.FromMilliseconds(100));
        var upd = Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceUpdated);
        Assert.True(upd.Ev.Service!.Txt.Properties.TryGetValue("mv", out var mv));
        Assert.Equal(new byte[] { 1 }, mv);
    }

    [Fact]
    public void Goodbye_RemovesServiceAtOtherNodesAfterOneSecond()
    {
        var sim = new MdnsSim(2);
        int id = sim.AddService(sim.Nodes[0], "TV", 1000, "tv.local");
        sim.Nodes[1].Querier.Browse(MdnsSim.Type, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.Single(sim.Nodes[1].Querier.Services);
        var stopAt = sim.Now;
        sim.Nodes[0].Responder.Stop(sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(3));
        var goodbyes = sim.Nodes[0].Sent.Where(s => s.At == stopAt).SelectMany(s => s.Msg.Answers).ToList();
        Assert.All(goodbyes, r => Assert.Equal(0u, r.Ttl));
        Assert.Contains(goodbyes, r => r is PtrRecord);
        Assert.Contains(goodbyes, r => r is SrvRecord);
        Assert.Contains(goodbyes, r => r is ARecord);
        var removed = Assert.Single(sim.Nodes[1].QuerierEvents, e => e.Ev.Kind == MdnsQuerierEventKind.ServiceRemoved);
        Assert.InRange(removed.At - stopAt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1.01));
        Assert.Empty(sim.Nodes[1].Querier.Services);
    }

    [Fact]
    public void TruncatedQuery_WaitsForMoreKnownAnswers()
    {
        var (sim, n) = AnnouncedTv(seed: 3);
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353);
        var instance = DnsName.Parse("TV._openscreen._udp.local");

        // 1) TC query, the rest of the known answers (including ours) follows 100 ms later: no answer at all.
        var part1 = new DnsMessage { Header = new DnsHeader(0, DnsHeader.TruncatedFlag) };
        part1.Questions.Add(new DnsQuestion(MdnsSim.Type, DnsRecordType.PTR));
        part1.Answers.Add(new PtrRecord(MdnsSim.Type, DnsName.Parse("Other._openscreen._udp.local"), 4500));
        var part2 = new DnsMessage();
        part2.Answers.Add(new PtrRecord(MdnsSim.Type, instance, 4500));
        int before = n.Sent.Count;
        sim.Inject(client, part1);
        sim.RunFor(Ms(100));
        Assert.Equal(before, n.Sent.Count); // held, not answered at once
        sim.Inject(client, part2);
        sim.RunFor(TimeSpan.FromSeconds(2));
        Assert.Equal(before, n.Sent.Count);

        // 2) TC query and nothing follows: answered after 400–500 ms (+ the 20–120 ms shared-record delay).
        var t0 = sim.Now + Ms(1);
        sim.Inject(client, part1);
        sim.RunFor(TimeSpan.FromSeconds(2));
        var r = Assert.Single(n.Sent.Skip(before));
        Assert.InRange(r.At - t0, Ms(420), Ms(620));
        Assert.Contains(r.Msg.Answers, a => a is PtrRecord p && p.Target == instance);
    }

    [Fact]
    public void HostAddressChange_GoodbyeForOld_AnnouncementForNew()
    {
        var sim = new MdnsSim(2);
        var host = DnsName.Parse("cam.local");
        int id = sim.Nodes[0].Responder.AddHost(host, [IPAddress.Parse("10.0.0.1")], sim.Now);
        sim.Nodes[1].Querier.ResolveHost(host, sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.Equal([IPAddress.Parse("10.0.0.1")], sim.Nodes[1].Querier.GetAddresses(host, sim.Now));
        var changeAt = sim.Now;
        sim.Nodes[0].Responder.SetHostAddresses(id, [IPAddress.Parse("10.0.0.5")], sim.Now);
        sim.RunFor(TimeSpan.FromSeconds(3));
        var sent = sim.Nodes[0].Sent.Where(s => s.At >= changeAt).SelectMany(s => s.Msg.Answers).ToList();
        Assert.Contains(sent, r => r is ARecord { Ttl: 0 } a && a.Address.Equals(IPAddress.Parse("10.0.0.1")));
        Assert.Contains(sent, r => r is ARecord { Ttl: 120, CacheFlush: true } a && a.Address.Equals(IPAddress.Parse("10.0.0.5")));
        Assert.Equal([IPAddress.Parse("10.0.0.5")], sim.Nodes[1].Querier.GetAddresses(host, sim.Now));
    }

    [Fact]
    public void DuplicateAnswerSuppression_CountsOnlyTheAnswerSection()
    {
        // §7.4 ("the same answer record"): a response carrying our record only as an additional record — e.g.
        // the echo of our own earlier answer, processed after a newer query — must not cancel a pending answer.
        var (sim, n) = AnnouncedTv();
        var instance = DnsName.Parse("TV._openscreen._udp.local");
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.99"), 5353);
        var other = new IPEndPoint(IPAddress.Parse("10.0.0.98"), 5353);
        DnsMessage PtrQuery()
        {
            var m = new DnsMessage();
            m.Questions.Add(new DnsQuestion(MdnsSim.Type, DnsRecordType.PTR));
            return m;
        }
        DnsMessage ResponseWithPtr(bool inAnswers)
        {
            var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag) };
            (inAnswers ? m.Answers : m.Additionals).Add(new PtrRecord(MdnsSim.Type, instance, 4500));
            return m;
        }

        // PTR is shared: the answer waits 20–120 ms; a response with the PTR as an additional comes in meanwhile.
        int before = n.Sent.Count;
        sim.Inject(client, PtrQuery());
        sim.RunFor(Ms(5));
        sim.Inject(other, ResponseWithPtr(inAnswers: false));
        sim.RunFor(TimeSpan.FromSeconds(2));
        var answered = Assert.Single(n.Sent.Skip(before));
        Assert.Contains(answered.Msg.Answers, r => r is PtrRecord p && p.Target == instance);

        // The same record in another responder's answer section does suppress ours.
        before = n.Sent.Count;
        sim.Inject(client, PtrQuery());
        sim.RunFor(Ms(5));
        sim.Inject(other, ResponseWithPtr(inAnswers: true));
        sim.RunFor(TimeSpan.FromSeconds(2));
        Assert.Equal(before, n.Sent.Count);
    }
}
