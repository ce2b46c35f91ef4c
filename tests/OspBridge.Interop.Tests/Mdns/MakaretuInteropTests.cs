using System.Net.NetworkInformation;
using System.Net.Sockets;
using Makaretu.Dns;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

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
            // Makaretu drops any packet byte-identical to one received in the last minute. An answer of ours that
            // repeats an earlier announcement (same record, same TTL) is such a packet, and its ResolveAsync would
            // then wait forever; RFC 6762 has no such rule, so turn it off for the peer.
            IgnoreDuplicateMessages = false,
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

            // Makaretu resolves the SRV, TXT and the target's address from our responder (its own queries, our answers).
            var srv = (SRVRecord)await ResolveAsync(mk, instance, DnsType.SRV);
            Assert.Equal(4433, srv.Port);
            Assert.Equal(new DomainName("ospb-ours.local"), srv.Target);
            var txt = (TXTRecord)await ResolveAsync(mk, instance, DnsType.TXT);
            Assert.Contains("fp=abc", txt.Strings);
            var a = (Makaretu.Dns.ARecord)await ResolveAsync(mk, new DomainName("ospb-ours.local"), DnsType.A);
            Assert.Equal(ours.IPv4, a.Address);

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

    /// <summary>
    /// Sends a Makaretu query for <paramref name="name"/>/<paramref name="type"/> and waits for an answer-section
    /// record of exactly that name and type (Makaretu's own <c>ResolveAsync</c> accepts any record of the name).
    /// </summary>
    private static async Task<ResourceRecord> ResolveAsync(MulticastService mk, DomainName name, DnsType type)
    {
        var tcs = new TaskCompletionSource<ResourceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnAnswer(object? sender, MessageEventArgs e)
        {
            if (e.Message.Answers.FirstOrDefault(r => r.Name == name && r.Type == type && r.TTL > TimeSpan.Zero) is { } r) tcs.TrySetResult(r);
        }
        mk.AnswerReceived += OnAnswer;
        try
        {
            mk.SendQuery(name, Makaretu.Dns.DnsClass.IN, type);
            return await tcs.Task.WaitAsync(Wait);
        }
        finally
        {
            mk.AnswerReceived -= OnAnswer;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (!await condition()) await Task.Delay(50, cts.Token);
    }
}
