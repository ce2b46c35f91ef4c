using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Makaretu.Dns;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Testing.Netns;
using Xunit.Abstractions;

namespace OspBridge.Interop.Tests.Mdns;

/// <summary>
/// Makaretu.Dns.Multicast 0.27.0 (an independent mDNS/DNS-SD implementation) as a peer of our
/// <see cref="MdnsService"/>, each in its own namespace of a throw-away LAN: it browses and resolves our
/// advertisement, we browse and resolve its, and goodbyes go both ways. Nothing leaves through the machine's
/// real interfaces (the guard checks; Makaretu only ever sees the namespace's <c>eth0</c>).
/// </summary>
public sealed class MakaretuInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    /// <summary>Starts Makaretu inside <paramref name="host"/>'s namespace, on its LAN interface only.</summary>
    private static (MulticastService Mdns, ServiceDiscovery Sd) StartMakaretu(NetnsHost host) => host.RunInNamespace(() =>
    {
        // Only the NIC carrying this host's LAN address, as enumerated here, on the namespace thread; later
        // re-enumerations (Makaretu re-reads the NICs on NetworkAddressChanged, from a pool thread outside the
        // namespace) get the same list, so it never rebinds — and never to the machine's real interfaces.
        List<NetworkInterface>? nicsInNamespace = null;
        var mdns = new MulticastService(nics => nicsInNamespace ??= nics.Where(n => n.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(host.IPv4))).ToList())
        {
            UseIpv6 = false,
        };
        var sd = new ServiceDiscovery(mdns);
        mdns.Start();
        if (nicsInNamespace is not [_]) throw new InvalidOperationException("Makaretu did not find exactly the namespace's LAN interface");
        return (mdns, sd);
    });

    [Fact]
    public async Task Makaretu_BrowsesOurs_WeBrowseMakaretus_GoodbyesBothWays()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost theirs = lan.Hosts[0], ours = lan.Hosts[1];

        var (mk, sd) = StartMakaretu(theirs);
        try
        {
            await using var svc = ours.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = [ours.InterfaceName], UseIPv6 = false }));

            // --- We browse Makaretu's advertisement.
            var profile = new ServiceProfile("Makaretu Peer", "_ospbmk._udp", 4711, [theirs.IPv4]);
            profile.AddProperty("k", "v");
            var added = new TaskCompletionSource<MdnsServiceInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
            var removed = new TaskCompletionSource<MdnsServiceInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
            svc.ServiceChanged += e =>
            {
                if (e.Service?.InstanceName != "Makaretu Peer") return;
                if (e.Kind == MdnsQuerierEventKind.ServiceAdded) added.TrySetResult(e.Service);
                if (e.Kind == MdnsQuerierEventKind.ServiceRemoved) removed.TrySetResult(e.Service);
            };
            sd.Advertise(profile);
            await svc.BrowseAsync(DnsName.Parse("_ospbmk._udp.local"));
            var seen = await added.Task.WaitAsync(Wait);
            output.WriteLine($"we resolved {seen.FullName} -> {seen.HostName}:{seen.Port} [{string.Join(", ", seen.Addresses)}]");
            Assert.Equal(4711, seen.Port);
            Assert.Equal(DnsName.Parse("_ospbmk._udp.local"), seen.ServiceType);
            Assert.Contains(theirs.IPv4, seen.Addresses);
            Assert.Equal("v", seen.Txt.Properties.GetString("k"));

            // --- Makaretu browses and resolves ours.
            var shutdown = new TaskCompletionSource<DomainName>(TaskCreationOptions.RunContinuationsAsynchronously);
            var found = new TaskCompletionSource<DomainName>(TaskCreationOptions.RunContinuationsAsynchronously);
            sd.ServiceInstanceDiscovered += (_, e) =>
            {
                if (e.ServiceInstanceName.Labels[0] == "Our Agent") found.TrySetResult(e.ServiceInstanceName);
            };
            sd.ServiceInstanceShutdown += (_, e) =>
            {
                if (e.ServiceInstanceName.Labels[0] == "Our Agent") shutdown.TrySetResult(e.ServiceInstanceName);
            };
            var host = DnsName.Parse("ospb-ours.local");
            await svc.PublishHostAsync(host, ours.IPv4);
            int pub = await svc.PublishServiceAsync(new MdnsServiceRegistration("Our Agent", DnsName.Parse("_ospbours._udp.local"), host, 4433,
                new TxtProperties().Set("fp", "abc")));
            await WaitUntilAsync(() => svc.IsEstablishedAsync(pub));
            sd.QueryServiceInstances("_ospbours._udp");
            var instance = await found.Task.WaitAsync(Wait);
            output.WriteLine($"Makaretu discovered {instance}");
            Assert.Equal(["Our Agent", "_ospbours", "_udp", "local"], instance.Labels);

            // Makaretu resolves the SRV, TXT and the target's address from our responder.
            var srvAnswer = await mk.ResolveAsync(Query(instance, DnsType.SRV)).WaitAsync(Wait);
            var srv = srvAnswer.Answers.OfType<SRVRecord>().Single(r => r.Name == instance);
            Assert.Equal(4433, srv.Port);
            Assert.Equal(new DomainName("ospb-ours.local"), srv.Target);
            var txtAnswer = await mk.ResolveAsync(Query(instance, DnsType.TXT)).WaitAsync(Wait);
            Assert.Contains("fp=abc", txtAnswer.Answers.OfType<TXTRecord>().Single(r => r.Name == instance).Strings);
            var aAnswer = await mk.ResolveAsync(Query(new DomainName("ospb-ours.local"), DnsType.A)).WaitAsync(Wait);
            Assert.Equal(ours.IPv4, aAnswer.Answers.OfType<Makaretu.Dns.ARecord>().Single().Address);

            // --- Goodbyes: ours reach Makaretu, Makaretu's reach us.
            await svc.UnpublishAsync(pub);
            Assert.Equal(instance, await shutdown.Task.WaitAsync(Wait));
            sd.Unadvertise(profile);
            var gone = await removed.Task.WaitAsync(Wait);
            Assert.Equal(4711, gone.Port);
        }
        finally
        {
            sd.Dispose();
            mk.Stop();
            mk.Dispose();
        }
    }

    private static Message Query(DomainName name, DnsType type)
    {
        var m = new Message();
        m.Questions.Add(new Question { Name = name, Type = type, Class = Makaretu.Dns.DnsClass.IN });
        return m;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (!await condition()) await Task.Delay(50, cts.Token);
    }
}
