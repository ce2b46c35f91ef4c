using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Osp.Tests.Agent;

/// <summary>
/// The cause of MdnsInteropTests.NameConflict_SecondAgentIsRenamed's flake (session 12). The second agent's first probe
/// can meet the first agent's defence, and mDNS rename the service, before OspAgentAdvertiser.StartAsync has resumed and
/// stored the service's publication id; the rename was then taken for another publication's and dropped: mDNS announced
/// 'Front Door (2)' while the agent's identity, hostname and TXT stayed 'Front Door' and its "advertising" line said so.
/// Here StartAsync is held after publishing until mDNS has renamed (the late resume, made certain), over mDNS on <c>lo</c>.
/// </summary>
public sealed class AdvertiserRenameRaceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_rename_raised_before_the_publication_ids_are_known_is_applied_before_WaitEstablished_returns()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string name = "Rename Race " + Guid.NewGuid().ToString("N")[..6];
        using var identityA = AgentIdentity.CreateEphemeral(name);
        using var identityB = AgentIdentity.CreateEphemeral(name);
        await using var mdnsA = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
        await using var a = await OspAgentAdvertiser.StartAsync(mdnsA, identityA, 4433, 1, null, cts.Token);
        await a.WaitEstablishedAsync(cts.Token).WaitAsync(Timeout, cts.Token);
        Assert.Equal(name, a.InstanceName);

        await using var mdnsB = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
        var serviceRenamed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        mdnsB.Renamed += (_, n) =>
        {
            if (n.Parent() == OspDiscovery.ServiceType)
                serviceRenamed.TrySetResult(n.Labels[0]);
        };
        string hostBefore = identityB.Hostname;
        await using var b = await OspAgentAdvertiser.StartAsync(mdnsB, identityB, 4434, 1, null,
            afterPublish: () => serviceRenamed.Task.WaitAsync(Timeout, cts.Token), cts.Token);
        string renamed = await serviceRenamed.Task;
        Assert.Equal(OspInstanceName.Rename(name, 2), renamed);

        await b.WaitEstablishedAsync(cts.Token).WaitAsync(Timeout, cts.Token);
        // Returned only once the rename was applied: the name the caller reads is the announced one, the identity followed.
        Assert.Equal(renamed, b.InstanceName);
        Assert.Equal(renamed, identityB.InstanceName);
        Assert.NotEqual(hostBefore, identityB.Hostname);
        Assert.True(await mdnsB.IsEstablishedAsync(2, cts.Token)); // publication 2 = the service (1 = the first hostname)
        Assert.Equal(OspDiscovery.ServiceType.Prepend(renamed), await mdnsB.GetPublishedNameAsync(2, cts.Token));
        Assert.Equal(name, a.InstanceName); // the defender kept its name
    }
}
