using OspBridge.Testing.Logging;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Testing.Netns;
using Xunit.Abstractions;

namespace OspBridge.Net.Tests.Mdns;

/// <summary>The real UDP driver on a namespace LAN: in-process services created on setns threads.</summary>
public sealed class MdnsServiceNetnsTests(ITestOutputHelper output)
{
    private static readonly DnsName Type = DnsName.Parse("_openscreen._udp.local");

    [Fact]
    public async Task ThreeHosts_DiscoverEachOther_ResolveHostNames_NothingLeaks()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        var services = new List<MdnsService>();
        var seen = new ConcurrentDictionary<(int Observer, string Instance), MdnsServiceInstance>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                int observer = i;
                var svc = lan.Hosts[i].RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Logger = new LineLogger(output.WriteLine, $"[h{observer}] ") }));
                svc.ServiceChanged += e =>
                {
                    if (e.Kind == MdnsQuerierEventKind.ServiceAdded) seen[(observer, e.Service!.InstanceName)] = e.Service;
                };
                services.Add(svc);
                Assert.Equal("eth0", Assert.Single(svc.Interfaces).Name);
            }
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                var host = DnsName.Parse($"host{i}.local");
                await services[i].PublishHostAsync(host);
                await services[i].PublishServiceAsync(new MdnsServiceRegistration($"Agent {i}", Type, host, (ushort)(4000 + i), new TxtProperties().Set("fp", $"fp{i}")));
                await services[i].BrowseAsync(Type);
            }
            while (seen.Count < 9 && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(10);
            var all = sw.Elapsed;
            Assert.Equal(9, seen.Count);
            output.WriteLine($"simultaneous start (incl. probing): all 3×3 discovered after {all.TotalMilliseconds:F0} ms");
            var s = seen[(0, "Agent 2")];
            Assert.Equal(4002, s.Port);
            Assert.Contains(lan.Hosts[2].IPv4, s.Addresses);
            Assert.Contains(lan.Hosts[2].IPv6, s.Addresses);
            Assert.Equal("fp2", s.Txt.Properties.GetString("fp"));

            // A late listener finds already established agents quickly (no probing on the listener side).
            // Wait until the announcements are over: a record is multicast at most once per second (§6).
            await Task.Delay(3000);
            await using var late = lan.Hosts[1].RunInNamespace(() => MdnsService.Start());
            var found = new ConcurrentDictionary<string, bool>();
            late.ServiceChanged += e => { if (e.Kind == MdnsQuerierEventKind.ServiceAdded) found[e.Service!.InstanceName] = true; };
            var sw2 = Stopwatch.StartNew();
            await late.BrowseAsync(Type);
            while (found.Count < 3 && sw2.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(5);
            output.WriteLine($"late listener: 3 agents discovered after {sw2.Elapsed.TotalMilliseconds:F0} ms");
            Assert.Equal(3, found.Count);
            Assert.True(sw2.Elapsed < TimeSpan.FromSeconds(1), $"discovery took {sw2.Elapsed}");

            // Host name resolution across namespaces.
            var addrs = await services[0].ResolveHostAsync(DnsName.Parse("host1.local"), TimeSpan.FromSeconds(3));
            Assert.Contains(lan.Hosts[1].IPv4, addrs);
        }
        finally
        {
            var sw3 = Stopwatch.StartNew();
            foreach (var svc in services) await svc.DisposeAsync();
            output.WriteLine($"disposed in {sw3.ElapsedMilliseconds} ms");
        }
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task Loopback_MulticastIsEnabledOnLo_TwoServicesResolveEachOther()
    {
        await using var lan = await NetnsLan.CreateAsync(1);
        var h = lan.Hosts[0];
        var before = await h.RunAsync("ip", ["-o", "link", "show", "lo"], TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("MULTICAST", before.StandardOutput, StringComparison.Ordinal);
        await using var a = h.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], Logger = new LineLogger(output.WriteLine) }));
        await using var b = h.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"] }));
        var after = await h.RunAsync("ip", ["-o", "link", "show", "lo"], TimeSpan.FromSeconds(10));
        Assert.Contains("MULTICAST", after.StandardOutput, StringComparison.Ordinal);
        await a.PublishHostAsync(DnsName.Parse("loop-test.local"));
        var addrs = await b.ResolveHostAsync(DnsName.Parse("loop-test.local"), TimeSpan.FromSeconds(5));
        Assert.Contains(IPAddress.Loopback, addrs);
    }

    [Fact]
    public async Task WaitEstablished_CompletesOnProbingEvent_AtOnceWhenDone_AndFailsWhenWithdrawn()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(1);
        await using var svc = lan.Hosts[0].RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["eth0"] }));
        int pub = await svc.PublishHostAsync(DnsName.Parse("wait-established.local"));
        Assert.False(await svc.IsEstablishedAsync(pub)); // probing takes ~750 ms (RFC 6762 §8.1)
        await svc.WaitEstablishedAsync(pub).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(await svc.IsEstablishedAsync(pub));
        await svc.WaitEstablishedAsync(pub).WaitAsync(TimeSpan.FromSeconds(1)); // already established: completes at once (a timeout throws)

        int second = await svc.PublishHostAsync(DnsName.Parse("wait-withdrawn.local"));
        var waiting = svc.WaitEstablishedAsync(second);
        await svc.UnpublishAsync(second);
        var ex = await Assert.ThrowsAsync<NetException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(NetError.InvalidState, ex.Error);
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task LegacyUnicastQuery_FromEphemeralPort_GetsUnicastReplyWithSameId()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        await using var responder = lan.Hosts[0].RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["eth0"] }));
        int pub = await responder.PublishHostAsync(DnsName.Parse("legacy-target.local"));
        await responder.WaitEstablishedAsync(pub).WaitAsync(TimeSpan.FromSeconds(5));

        // A plain DNS client (like a resolver library): ephemeral port, query to the group, waits for unicast.
        using var client = lan.Hosts[1].RunInNamespace(() =>
        {
            var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            s.Bind(new IPEndPoint(lan.Hosts[1].IPv4, 0));
            s.ReceiveTimeout = 3000;
            return s;
        });
        var q = new DnsMessage { Header = new DnsHeader(0xBEEF, 0) };
        q.Questions.Add(new DnsQuestion(DnsName.Parse("legacy-target.local"), DnsRecordType.A));
        client.SendTo(q.Encode(), new IPEndPoint(MdnsConstants.IPv4Group, 5353));
        var buf = new byte[1500];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = client.ReceiveFrom(buf, ref from);
        var reply = DnsMessage.Parse(buf.AsSpan(0, n));
        Assert.Equal(lan.Hosts[0].IPv4, ((IPEndPoint)from).Address);
        Assert.Equal(5353, ((IPEndPoint)from).Port);
        Assert.Equal(0xBEEF, reply.Header.Id);
        Assert.True(reply.IsResponse);
        Assert.Equal("legacy-target.local", Assert.Single(reply.Questions).Name.ToString());
        var a = Assert.IsType<ARecord>(Assert.Single(reply.Answers));
        Assert.Equal(lan.Hosts[0].IPv4, a.Address);
        Assert.True(a.Ttl <= 10);
        Assert.False(a.CacheFlush);
        guard.AssertNoLeak();
    }
}
