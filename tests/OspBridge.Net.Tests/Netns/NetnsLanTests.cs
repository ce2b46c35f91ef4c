using System.Net;
using System.Net.Sockets;
using System.Text;
using OspBridge.Testing.Netns;

namespace OspBridge.Net.Tests.Netns;

/// <summary>Self-test of the network-namespace harness: multicast and unicast flow between hosts, nothing leaks.</summary>
public sealed class NetnsLanTests
{
    [Fact]
    public async Task ThreeHosts_MulticastReachesOthers_ProcessesRunInside_NothingLeaks()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(3);
        Assert.Equal(3, lan.Hosts.Count);
        Assert.Equal(3, lan.Hosts.Select(h => h.Namespace).Distinct().Count());

        // A process inside the namespace sees the host's address and the default route.
        var addr = await lan.Hosts[1].RunAsync("ip", ["-br", "addr", "show", "dev", "eth0"], TimeSpan.FromSeconds(10));
        addr.EnsureSuccess("ip addr");
        Assert.Contains("10.213.0.2/24", addr.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("fd00:213::2/64", addr.StandardOutput, StringComparison.Ordinal);
        var route = await lan.Hosts[1].RunAsync("ip", ["route", "show", "default"], TimeSpan.FromSeconds(10));
        Assert.Contains("via 10.213.0.254", route.StandardOutput, StringComparison.Ordinal);

        // Receivers: sockets created on setns threads live in hosts 1 and 2.
        var group = IPAddress.Parse("224.0.0.251");
        const int port = 15353;
        Socket MakeReceiver(NetnsHost h) => h.RunInNamespace(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(IPAddress.Any, port));
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group, h.IPv4));
            s.ReceiveTimeout = 5000;
            return s;
        });
        using var r1 = MakeReceiver(lan.Hosts[1]);
        using var r2 = MakeReceiver(lan.Hosts[2]);
        using var sender = await lan.Hosts[0].RunInNamespaceAsync(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, lan.Hosts[0].IPv4.GetAddressBytes());
            return s;
        });
        byte[] msg = Encoding.ASCII.GetBytes("hello lan");
        sender.SendTo(msg, new IPEndPoint(group, port));

        foreach (var r in new[] { r1, r2 })
        {
            var buf = new byte[64];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int n = r.ReceiveFrom(buf, ref from);
            Assert.Equal("hello lan", Encoding.ASCII.GetString(buf, 0, n));
            Assert.Equal(lan.Hosts[0].IPv4, ((IPEndPoint)from).Address);
        }

        await lan.DisposeAsync();
        Assert.DoesNotContain(Directory.GetFiles("/run/netns"), p => Path.GetFileName(p).StartsWith(lan.BridgeNamespace[..^3], StringComparison.Ordinal));
        guard.AssertNoLeak();
    }

    [Fact]
    public async Task ParallelLans_HaveDistinctNamespaces()
    {
        var t1 = NetnsLan.CreateAsync(1);
        var t2 = NetnsLan.CreateAsync(1);
        await using var a = await t1;
        await using var b = await t2;
        Assert.NotEqual(a.Hosts[0].Namespace, b.Hosts[0].Namespace);
        Assert.StartsWith($"{NetnsLan.NamespacePrefix}{Environment.ProcessId}-", a.Hosts[0].Namespace, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guard_DetectsMdnsPacketOnItsInterface()
    {
        // The guard watches the namespace it is started in; started inside host 0, host 0's eth0 is "external".
        await using var lan = await NetnsLan.CreateAsync(1);
        var guard = lan.Hosts[0].RunInNamespace(ExternalTrafficGuard.Start);
        using var s = lan.Hosts[0].RunInNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        s.SendTo(new byte[12], new IPEndPoint(IPAddress.Parse("224.0.0.251"), 5353));
        await Task.Delay(300);
        var ex = Assert.Throws<InvalidOperationException>(guard.AssertNoLeak);
        Assert.Contains("224.0.0.251:5353", ex.Message, StringComparison.Ordinal);
    }
}
