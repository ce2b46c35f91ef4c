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
                var svc = lan.Hosts[i].RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Log = l => output.WriteLine($"[h{observer}] {l}") }));
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
        await using var a = h.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], Log = output.WriteLine }));
        await using var b = h.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"] }));
        var after = await h.RunAsync("ip", ["-o", "link", "show", "lo"], TimeSpan.FromSeconds(10));
        Assert.Contains("MULTICAST", after.StandardOutput, StringComparison.Ordinal);
        await a.PublishHostAsync(DnsName.Parse("loop-test.local"));
        var addrs = await b.ResolveHostAsync(DnsName.Parse("loop-test.local"), TimeSpan.FromSeconds(5));
        Assert.Contains(IPAddress.Loopback, addrs);
    }
}
