using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.Testing.Netns;

namespace OspBridge.Net.Tests.Netns;

/// <summary>
/// <see cref="UdpSocketOptions.DontFragment"/> across a veth with the usual 1500-byte MTU: what does not fit is refused
/// (not fragmented), the rest of the batch still goes, and the batched socket keeps GSO (Path MTU probes rely on this).
/// </summary>
public sealed class DontFragmentTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OversizeDatagrams_AreRefused_TheRestArrives_GsoStaysOn(bool batched)
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost a = lan.Hosts[0], b = lan.Hosts[1];
        var inner = batched ? UdpSocketFactory.Default : UdpSocketFactory.Portable;
        using var fa = a.CreateSocketFactory(inner);
        using var fb = b.CreateSocketFactory(inner);
        using var sa = fa.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(a.IPv4, 0), DontFragment = true });
        using var sb = fb.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(b.IPv4, 0), ReceiveBufferSize = 1 << 20 });
        var toB = new IPEndPoint(b.IPv4, sb.LocalEndPoint.Port);

        // [3000 alone] [1000 × 4: one GSO run] [3000, 3000, 1000: a GSO run whose segment size exceeds the MTU] [1400]
        int[] sizes = [3000, 1000, 1000, 1000, 1000, 3000, 3000, 1000, 1400];
        var batch = new DatagramBatch(16, 4096);
        for (int i = 0; i < sizes.Length; i++)
        {
            batch.NextSlot[..sizes[i]].Fill((byte)i);
            batch.Commit(sizes[i], DatagramPath.To(toB));
        }
        sa.Send(batch);
        var got = await ReceiveAsync(sb, expected: 6);
        var expected = sizes.Select((size, i) => (i, size)).Where(x => x.size <= 1472).Select(x => x.i).ToList();
        Assert.Equal(expected, got.Select(g => (int)g.First).Order());
        Assert.All(got, g => Assert.True(g.Length <= 1472, $"a {g.Length}-byte datagram arrived (fragmented?)"));
        if (sa is BatchedUdpSocket bs) Assert.True(bs.GsoEnabled, "an oversize datagram turned GSO off");

        // Without DontFragment the kernel fragments: the 3000-byte datagram arrives whole.
        using var loose = fa.Open(new UdpSocketOptions { LocalEndPoint = new IPEndPoint(a.IPv4, 0) });
        var one = new DatagramBatch(1, 4096);
        one.NextSlot[..3000].Fill(7);
        one.Commit(3000, DatagramPath.To(toB));
        loose.Send(one);
        var fragmented = await ReceiveAsync(sb, expected: 1);
        Assert.Equal(3000, fragmented[0].Length);
    }

    private static async Task<List<(byte First, int Length)>> ReceiveAsync(IDatagramSocket s, int expected)
    {
        var got = new List<(byte, int)>();
        var batch = new DatagramBatch(16, 4096);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (got.Count < expected)
        {
            int n = await s.ReceiveAsync(batch, cts.Token);
            for (int i = 0; i < n; i++) got.Add((batch[i][0], batch.LengthAt(i)));
        }
        // nothing more is on its way (what was refused stays refused): a short grace for stragglers
        using var grace = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        try
        {
            int n = await s.ReceiveAsync(batch, grace.Token);
            for (int i = 0; i < n; i++) got.Add((batch[i][0], batch.LengthAt(i)));
        }
        catch (OperationCanceledException)
        {
        }
        return got;
    }
}
