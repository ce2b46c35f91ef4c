using System.Security.Cryptography;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Tests;

/// <summary>Path MTU discovery (RFC 9000 §14.3, RFC 8899): the search alone, then two cores over links with an MTU.</summary>
public class PathMtuTests
{
    // ---- the search state machine ----

    [Fact]
    public void Search_FirstProbeGoesToTheUpperBound_OneAckCompletesIt()
    {
        var s = new PathMtuSearch(1452, 16384);
        Assert.Equal(1452, s.Current);
        Assert.True(s.WantsProbe);
        Assert.Equal(16384, s.ProbeSize);
        s.OnProbeSent();
        Assert.False(s.WantsProbe); // one probe in flight at a time
        Assert.True(s.OnProbeAcked(16384));
        Assert.Equal(16384, s.Current);
        Assert.True(s.IsComplete);
        Assert.False(s.WantsProbe);
    }

    [Fact]
    public void Search_NoRoomAboveTheBase_IsCompleteAtOnce()
    {
        var s = new PathMtuSearch(1452, 1460);
        Assert.True(s.IsComplete);
        Assert.False(s.WantsProbe);
        Assert.Equal(1452, s.Current);
    }

    [Fact]
    public void Search_ASizeCountsAsFailedOnlyAfterMaxProbesLosses()
    {
        var s = new PathMtuSearch(1452, 16384);
        for (int i = 0; i < PathMtuSearch.MaxProbes - 1; i++)
        {
            s.OnProbeSent();
            s.OnProbeLost(16384);
            Assert.Equal(16384, s.ProbeSize);
        }
        s.OnProbeSent();
        s.OnProbeLost(16384);
        Assert.True(s.ProbeSize < 16384 && s.ProbeSize > 1452, $"bisects after {PathMtuSearch.MaxProbes} losses: {s.ProbeSize}");
        // a late loss report of an older size does not count against the new one
        int next = s.ProbeSize;
        s.OnProbeLost(16384);
        s.OnProbeLost(16384);
        s.OnProbeLost(16384);
        Assert.Equal(next, s.ProbeSize);
        Assert.Equal(1452, s.Current);
    }

    [Fact]
    public void Search_ConvergesJustBelowEveryPathMtu_FixedSeed()
    {
        var rng = new Random(20261207);
        for (int trial = 0; trial < 500; trial++)
        {
            int pathMtu = rng.Next(1452, 16385);
            var s = new PathMtuSearch(1452, 16384);
            int probes = 0;
            while (!s.IsComplete && probes < 1000)
            {
                Assert.True(s.WantsProbe);
                int size = s.ProbeSize;
                Assert.InRange(size, s.Current + 1, 16384);
                s.OnProbeSent();
                probes++;
                if (size <= pathMtu) s.OnProbeAcked(size);
                else s.OnProbeLost(size);
            }
            Assert.True(s.IsComplete, $"path {pathMtu}: not complete after {probes} probes");
            Assert.True(s.Current <= pathMtu, $"path {pathMtu}: confirmed {s.Current}");
            // 1 probe at the top, then up to 9 halvings of 14 932 bytes: within 30 bytes of the path MTU
            Assert.True(pathMtu - s.Current < PathMtuSearch.Granularity, $"path {pathMtu}: stopped at {s.Current}");
            Assert.True(probes <= PathMtuSearch.MaxProbes * PathMtuSearch.MaxSearchSteps, $"path {pathMtu}: {probes} probes");
        }
    }

    [Fact]
    public void Search_BlackHole_ReturnsToTheBase_AndStopsProbing()
    {
        var s = new PathMtuSearch(1452, 16384);
        s.OnProbeSent();
        s.OnProbeAcked(16384);
        Assert.True(s.OnBlackHole());
        Assert.Equal(1452, s.Current);
        Assert.True(s.IsComplete);
        Assert.False(s.WantsProbe);
        Assert.False(s.OnBlackHole()); // already at the base
    }

    [Fact]
    public void CongestionController_NewSegmentSize_KeepsTheWindowInBytes()
    {
        var cc = new CongestionController(1452);
        long before = cc.Window;
        cc.SetMaxDatagramSize(16384);
        Assert.Equal(16384, cc.MaxDatagramSize);
        Assert.Equal(2L * 16384, cc.MinWindow);
        Assert.Equal(Math.Max(before, cc.MinWindow), cc.Window);
        cc.SetMaxDatagramSize(1452);
        Assert.Equal(2L * 1452, cc.MinWindow);
    }

    // ---- two cores over links with an MTU (virtual time) ----

    private static CoreOptions Discovering(int max = 16384) => new() { MaxUdpPayloadSize = max };

    /// <summary>Client → server transfer of <paramref name="size"/> bytes; returns the pair after it completed.</summary>
    private static QuicPair Transfer(int size, Func<int> linkMtu, CoreOptions client, CoreOptions server, Action<QuicPair, long>? during = null)
    {
        var up = new VirtualLinkOptions { Seed = 1, Delay = TimeSpan.FromMilliseconds(2), Filter = d => d.Length <= linkMtu() };
        var down = new VirtualLinkOptions { Seed = 2, Delay = TimeSpan.FromMilliseconds(2), Filter = d => d.Length <= linkMtu() };
        var pair = new QuicPair(up, down, client, server);
        Assert.True(pair.Handshake(), "handshake");
        var data = new byte[size];
        new Random(7).NextBytes(data);
        long id = pair.Client.OpenStream(bidirectional: false);
        int offset = 0;
        long sid = -1;
        var got = new MemoryStream();
        var buf = new byte[65536];
        bool fin = false;
        bool ok = pair.RunUntil(() => fin, TimeSpan.FromMinutes(5), eachStep: () =>
        {
            if (offset < data.Length) offset += pair.Client.StreamWrite(id, data.AsSpan(offset), fin: true);
            if (sid < 0 && pair.Server!.TryAcceptStream(out long s)) sid = s;
            while (sid >= 0 && !fin)
            {
                int n = pair.Server!.StreamRead(sid, buf, pair.Now, out fin);
                got.Write(buf, 0, n);
                if (n == 0) break;
            }
            during?.Invoke(pair, got.Length);
        });
        Assert.True(ok, $"transfer incomplete: {got.Length} of {size} at {pair.Now}");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got.ToArray()));
        return pair;
    }

    [Fact]
    public void Cores_PathCarries16K_SenderMovesTo16K_WithoutCongestionOrLoss()
    {
        var pair = Transfer(4 << 20, () => 65507, Discovering(), Discovering());
        Assert.Equal(16384, pair.Client.CurrentMaxDatagramSize);
        Assert.True(pair.Client.Counters.MtuProbesAcked >= 1);
        Assert.Equal(0, pair.Client.Counters.MtuProbesLost);
        Assert.Equal(0, pair.Client.PacketsLost);
        Assert.Equal(0, pair.Client.Congestion.CongestionEvents);
        Assert.Equal(16384, pair.Client.Congestion.MaxDatagramSize);
        // full-size datagrams actually went: 4 MiB in far fewer datagrams than at 1452 bytes
        Assert.True(pair.Client.DatagramsSent < (4 << 20) / 1452 / 4, $"{pair.Client.DatagramsSent} datagrams");
    }

    [Fact]
    public void Cores_1500BytePath_ProbesFailWithoutCongestion_SizeStaysWithinThePath()
    {
        var pair = Transfer(4 << 20, () => 1500, Discovering(), Discovering());
        int mtu = pair.Client.CurrentMaxDatagramSize;
        Assert.InRange(mtu, 1452, 1500);
        Assert.True(pair.Client.Counters.MtuProbesLost >= PathMtuSearch.MaxProbes, $"lost probes {pair.Client.Counters.MtuProbesLost}");
        Assert.Equal(0, pair.Client.PacketsLost); // lost probes are not lost packets
        Assert.Equal(0, pair.Client.Congestion.CongestionEvents);
        // the link dropped exactly the probes that were not acknowledged (one may still be outstanding at the end)
        Assert.Equal(pair.Client.Counters.MtuProbesSent - pair.Client.Counters.MtuProbesAcked, pair.ToServer.Dropped);
    }

    [Fact]
    public void Cores_PathShrinksAfterDiscovery_BlackHoleFallsBackToTheBase_TransferCompletes()
    {
        int linkMtu = 65507;
        var pair = Transfer(8 << 20, () => linkMtu, Discovering(), Discovering(), during: (p, received) =>
        {
            if (received > (2 << 20) && linkMtu != 1500)
            {
                Assert.Equal(16384, p.Client.CurrentMaxDatagramSize); // discovered before the path changed
                linkMtu = 1500;
            }
        });
        Assert.Equal(1500, linkMtu);
        Assert.Equal(1452, pair.Client.CurrentMaxDatagramSize);
        Assert.Equal(1452, pair.Client.Congestion.MaxDatagramSize);
    }

    [Fact]
    public void Cores_DiscoveryOff_NoProbes_BaseSize()
    {
        var pair = Transfer(1 << 20, () => 65507, new CoreOptions(), new CoreOptions());
        Assert.Equal(1452, pair.Client.CurrentMaxDatagramSize);
        Assert.Equal(0, pair.Client.Counters.MtuProbesSent);
    }

    [Fact]
    public void Cores_PeerAnnouncesLess_DiscoveryStopsAtThePeersLimit()
    {
        var pair = Transfer(2 << 20, () => 65507, Discovering(), Discovering(4000));
        Assert.Equal(4000, pair.Client.CurrentMaxDatagramSize);
        Assert.Equal(4000UL, pair.Client.PeerParameters!.MaxUdpPayloadSize);
    }
}
