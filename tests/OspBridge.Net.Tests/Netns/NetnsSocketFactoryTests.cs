using System.Net;
using System.Net.Sockets;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.Testing.Netns;

namespace OspBridge.Net.Tests.Netns;

/// <summary>Sockets opened by <see cref="NetnsSocketFactory"/> live in their namespace and talk over the LAN's veths.</summary>
public sealed class NetnsSocketFactoryTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TwoNamespaces_ExchangeDatagrams_OverTheVeth(bool batched)
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost a = lan.Hosts[0], b = lan.Hosts[1];
        var inner = batched ? UdpSocketFactory.Default : UdpSocketFactory.Portable;
        using var fa = a.CreateSocketFactory(inner);
        using var fb = b.CreateSocketFactory(inner);

        // Binding to the host's LAN address only works inside its namespace: the root namespace has no 10.213.0.x.
        using var sa = fa.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(a.IPv4, 0), Interface = a.InterfaceName });
        using var sb = fb.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(IPAddress.Any, 0), Interface = b.InterfaceName });
        Assert.Throws<SocketException>(() => UdpSocketFactory.Portable.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(a.IPv4, 0) }).Dispose());
        Assert.Equal(a.IPv4, sa.LocalEndPoint.Address);

        var toB = new IPEndPoint(b.IPv4, sb.LocalEndPoint.Port);
        var batch = new DatagramBatch(16, 1500);
        for (int i = 0; i < 10; i++)
        {
            new byte[] { (byte)i, 1, 2, 3 }.CopyTo(batch.NextSlot);
            batch.Commit(4 + i * 100, DatagramPath.To(toB)); // equal sizes would be one GSO send; mixed sizes too
        }
        var received = ReceiveAsync(sb, 10);
        sa.Send(batch);
        var got = await received;
        Assert.Equal(Enumerable.Range(0, 10), got.Select(g => (int)g.First).Order());
        Assert.All(got, g => Assert.Equal(new IPEndPoint(a.IPv4, sa.LocalEndPoint.Port), g.Path.Remote));
        Assert.All(got, g => Assert.Equal(b.IPv4, g.Path.Local!.Address));

        // And back, to the sender's reported address.
        var back = ReceiveAsync(sa, 1);
        sb.Send([42], new DatagramPath(null, got[0].Path.Remote));
        Assert.Equal(42, (await back)[0].First);

        // The factory thread joined the namespace; the test's own thread did not move.
        Assert.Equal(a.InterfaceName, fa.Run(() => System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces().Single(i => i.Name != "lo").Name));
    }

    private static async Task<List<(byte First, DatagramPath Path)>> ReceiveAsync(IDatagramSocket s, int count)
    {
        var got = new List<(byte, DatagramPath)>();
        var batch = new DatagramBatch(16, 2048);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (got.Count < count)
        {
            int n = await s.ReceiveAsync(batch, cts.Token);
            for (int i = 0; i < n; i++) got.Add((batch[i][0], batch.PathAt(i)));
        }
        return got;
    }
}
