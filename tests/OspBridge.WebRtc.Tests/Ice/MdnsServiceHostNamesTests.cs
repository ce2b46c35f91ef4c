using OspBridge.Testing.Logging;
using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Testing.Netns;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Tests.PeerConnection;
using Xunit;
using Xunit.Abstractions;

namespace OspBridge.WebRtc.Tests.Ice;

/// <summary>The <see cref="MdnsServiceHostNames"/> adapter over two real <see cref="MdnsService"/>s on a netns LAN.</summary>
public sealed class MdnsServiceHostNamesTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PublishOnOneHost_ResolveFromAnother_ExactlyThatAddress_ThenGoneAfterUnpublish()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost a = lan.Hosts[0], b = lan.Hosts[1];
        await using var svcA = a.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = [a.InterfaceName], Logger = new LineLogger(output.WriteLine, "[a] ") }));
        await using var svcB = b.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = [b.InterfaceName], Logger = new LineLogger(output.WriteLine, "[b] ") }));
        var lines = new List<string>();
        var pubA = new MdnsServiceHostNames(svcA, LineLogger.To(lines, "[a]" + ": "));
        var resB = new MdnsServiceHostNames(svcB, LineLogger.To(lines, "[b]" + ": ")) { ResolveTimeout = TimeSpan.FromSeconds(5) };

        string name = Guid.NewGuid().ToString("D") + ".local";
        var handle = pubA.Publish(name, a.IPv4);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ip = await resB.ResolveAsync(name, cts.Token);
        Assert.Equal(a.IPv4, ip);
        // Only the candidate's address is published — not host A's IPv6 addresses on the same interface.
        var all = await svcB.ResolveHostAsync(DnsName.Parse(name), TimeSpan.FromSeconds(5), cts.Token);
        Assert.Equal([a.IPv4], all);

        // Unpublish sends goodbyes (TTL 0, dropped from B's cache after 1 s): a fresh resolve then gets no answer.
        await handle.DisposeAsync();
        await handle.DisposeAsync(); // idempotent
        await Task.Delay(TimeSpan.FromSeconds(2), cts.Token);
        lock (lines) foreach (var l in lines) output.WriteLine(l);
        var gone = await new MdnsServiceHostNames(svcB) { ResolveTimeout = TimeSpan.FromSeconds(2) }.ResolveAsync(name, cts.Token);
        Assert.Null(gone);
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task AddressOnNoMdnsInterface_IsNotPublished_ResolveReturnsNull()
    {
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost a = lan.Hosts[0], b = lan.Hosts[1];
        await using var svcA = a.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = [a.InterfaceName] }));
        await using var svcB = b.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = [b.InterfaceName] }));
        var logs = new List<string>();
        var pubA = new MdnsServiceHostNames(svcA, LineLogger.To(logs, "a" + ": "));
        string name = Guid.NewGuid().ToString("D") + ".local";
        await using (pubA.Publish(name, IPAddress.Parse("192.0.2.7")))
        {
            var ip = await new MdnsServiceHostNames(svcB) { ResolveTimeout = TimeSpan.FromSeconds(2) }.ResolveAsync(name, CancellationToken.None);
            Assert.Null(ip);
        }
        lock (logs) Assert.Contains(logs, l => l.Contains("192.0.2.7", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal));
    }
}
