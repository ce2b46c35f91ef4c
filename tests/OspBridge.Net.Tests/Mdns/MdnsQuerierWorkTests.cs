using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Net.Tests.Mdns;

/// <summary>
/// Issue 13: the querier's work per received answer and per timer is O(what changed), not O(agents known) — counted
/// (<see cref="MdnsQuerier.InstancesEvaluated"/>, <see cref="MdnsQuerier.TimerEntriesVisited"/>), not timed. Before, every
/// packet recomputed every instance and every timer scanned the whole cache: 1000 idle devices cost the bridge most of a core.
/// </summary>
public sealed class MdnsQuerierWorkTests
{
    private static readonly DnsName AgentType = DnsName.Parse("_openscreen._udp.local");

    private static DnsName Instance(int n) => DnsName.Parse($"Agent {n:D5}._openscreen._udp.local");

    private static DnsName Host(int n) => DnsName.Parse($"agent-{n:D5}.local");

    /// <summary>One agent's announcement as a real responder sends it: PTR answer, SRV + TXT + A additionals.</summary>
    private static DnsMessage Announcement(int n, byte lastOctet = 0, uint ptrTtl = 4500)
    {
        var m = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
        m.Answers.Add(new PtrRecord(AgentType, Instance(n), ptrTtl));
        m.Additionals.Add(new SrvRecord(Instance(n), 0, 0, (ushort)(10000 + n), Host(n), 120));
        m.Additionals.Add(new TxtRecord(Instance(n), [System.Text.Encoding.ASCII.GetBytes($"fp=agent{n:D5}")], 4500));
        m.Additionals.Add(new ARecord(Host(n), new IPAddress([10, 1, (byte)(n >> 8), lastOctet == 0 ? (byte)n : lastOctet]), 120));
        return m;
    }

    private static IPEndPoint SourceOf(int n) => new(new IPAddress([10, 200, (byte)(n >> 8), (byte)n]), 5353);

    private static MdnsQuerier Known(int agents, TimeSpan at)
    {
        var q = new MdnsQuerier(1, new MdnsQuerierOptions().ForAgents(agents));
        q.Browse(AgentType, TimeSpan.Zero);
        for (int n = 0; n < agents; n++) q.Receive(Announcement(n).Encode(), SourceOf(n), at);
        Assert.True(q.Services.Count == agents, $"{q.Services.Count} of {agents} agents resolved");
        while (q.TryPollEvent(out _)) { }
        return q;
    }

    [Theory]
    [InlineData(20)]
    [InlineData(1000)]
    public void RefreshAnswer_RecomputesOnlyThatAgent_HoweverManyAreKnown(int agents)
    {
        var t = TimeSpan.FromSeconds(1);
        var q = Known(agents, t);

        // A refresh answer (same records) of one agent: that agent is recomputed, no event.
        long before = q.InstancesEvaluated;
        q.Receive(Announcement(7).Encode(), SourceOf(7), t + TimeSpan.FromSeconds(96));
        long refresh = q.InstancesEvaluated - before;
        Assert.True(refresh is >= 1 and <= 2, $"{refresh} instances recomputed for one agent's refresh answer with {agents} known");
        Assert.False(q.TryPollEvent(out var unexpected), $"no change, yet an event: {unexpected}");

        // Its address changes: only it is recomputed, and it is reported updated with the new address.
        before = q.InstancesEvaluated;
        q.Receive(Announcement(7, lastOctet: 250).Encode(), SourceOf(7), t + TimeSpan.FromSeconds(97));
        long moved = q.InstancesEvaluated - before;
        Assert.True(moved is >= 1 and <= 2, $"{moved} instances recomputed for one agent's new address with {agents} known");
        Assert.True(q.TryPollEvent(out var ev), "no event for the changed address");
        Assert.Equal(MdnsQuerierEventKind.ServiceUpdated, ev!.Kind);
        Assert.Equal(Instance(7), ev.Service!.FullName);
        Assert.Contains(IPAddress.Parse("10.1.0.250"), ev.Service.Addresses);
        Assert.Equal(agents, q.Services.Count);
    }

    [Fact]
    public void Timers_VisitOnlyDueRecords_ThenExpireEveryoneSilent()
    {
        const int agents = 1000;
        var t = TimeSpan.FromSeconds(1);
        var q = Known(agents, t);

        // Nothing is due 50 s later (refreshes start at 80 % of the 120 s TTL): no cache entry is looked at.
        long before = q.TimerEntriesVisited;
        q.HandleDeadline(t + TimeSpan.FromSeconds(50));
        Assert.Equal(before, q.TimerEntriesVisited);

        // One agent keeps answering; the rest fall silent: after the TTL every silent one is removed, the live one kept.
        for (var now = t + TimeSpan.FromSeconds(60); now < t + TimeSpan.FromSeconds(400); now += TimeSpan.FromSeconds(30))
        {
            q.Receive(Announcement(3).Encode(), SourceOf(3), now);
            q.HandleDeadline(now);
        }
        int removed = 0;
        while (q.TryPollEvent(out var ev)) if (ev.Kind == MdnsQuerierEventKind.ServiceRemoved) removed++;
        Assert.Equal(agents - 1, removed);
        var kept = Assert.Single(q.Services);
        Assert.Equal(Instance(3), kept.FullName);
        // Each silent agent's SRV and A were visited at their four refresh steps and at expiry, a bounded number of times.
        long visited = q.TimerEntriesVisited - before;
        Assert.True(visited <= agents * 4L * 6, $"{visited} timer visits for {agents} agents");
    }

    [Fact]
    public void RepeatedAnswers_KeepTheTimerQueueBounded()
    {
        var t = TimeSpan.FromSeconds(1);
        var q = Known(50, t);
        for (int i = 0; i < 20_000; i++)
            q.Receive(Announcement(i % 50).Encode(), SourceOf(i % 50), t + TimeSpan.FromMilliseconds(i));
        Assert.True(q.TimerQueueLength <= (2 * q.CachedRecordCount) + 64, $"{q.TimerQueueLength} timer items for {q.CachedRecordCount} records");
        Assert.Equal(50, q.Services.Count);
    }

    [Fact]
    public void Goodbye_RemovesThatAgentOnly_AfterOneSecond()
    {
        var t = TimeSpan.FromSeconds(1);
        var q = Known(100, t);
        var bye = new DnsMessage { Header = new DnsHeader(0, DnsHeader.ResponseFlag | DnsHeader.AuthoritativeFlag) };
        bye.Answers.Add(new PtrRecord(AgentType, Instance(42), 0));
        q.Receive(bye.Encode(), SourceOf(42), t + TimeSpan.FromSeconds(5));
        Assert.Equal(100, q.Services.Count);
        long before = q.InstancesEvaluated;
        q.HandleDeadline(t + TimeSpan.FromSeconds(6));
        Assert.True(q.TryPollEvent(out var ev) && ev.Kind == MdnsQuerierEventKind.ServiceRemoved && ev.Service!.FullName == Instance(42),
            $"expected agent 42 removed, got {ev}");
        Assert.Equal(99, q.Services.Count);
        Assert.True(q.InstancesEvaluated - before <= 2, $"{q.InstancesEvaluated - before} instances recomputed for one goodbye");
    }
}
