using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;

namespace OspBridge.Net.Tests.IO;

/// <summary>The <see cref="VirtualNetwork"/> pump with two (or three) toy cores.</summary>
public sealed class VirtualNetworkTests
{
    private static readonly IPEndPoint A = new(IPAddress.Parse("10.0.0.1"), 4000);
    private static readonly IPEndPoint B = new(IPAddress.Parse("10.0.0.2"), 4000);

    private sealed record Run(int[] PingOrder, int[] PongOrder, int Dropped, int Duplicated, int Reordered, TimeSpan End, long Steps);

    private static Run PingPong(int seedAtoB, int seedBtoA, int count = 200)
    {
        var net = new VirtualNetwork();
        var ca = new PingPongCore();
        var cb = new PingPongCore();
        var a = net.Add<PingEvent>("a", ca, null, A);
        var b = net.Add<PingEvent>("b", cb, null, B);
        var impaired = new VirtualLinkOptions { LossRate = 0.1, DuplicateRate = 0.1, ReorderRate = 0.2, Delay = TimeSpan.FromMilliseconds(3), ReorderDelay = TimeSpan.FromMilliseconds(10) };
        net.Connect(a, b, impaired with { Seed = seedAtoB }, impaired with { Seed = seedBtoA });
        for (int i = 0; i < count; i++) ca.SendPing(i, B);
        net.RunFor(TimeSpan.FromSeconds(1));
        var ab = net.Link(a, b);
        var ba = net.Link(b, a);
        return new Run(
            b.EventsOf<PingEvent.Pinged>().Select(p => p.N).ToArray(),
            a.EventsOf<PingEvent.Ponged>().Select(p => p.N).ToArray(),
            ab.Dropped + ba.Dropped, ab.Duplicated + ba.Duplicated, ab.Reordered + ba.Reordered, net.Now, net.Steps);
    }

    [Fact]
    public void SameSeeds_SameRun_EvenWithLossDuplicationAndReordering()
    {
        var first = PingPong(7, 8);
        var second = PingPong(7, 8);
        Assert.Equal(first.PingOrder, second.PingOrder);
        Assert.Equal(first.PongOrder, second.PongOrder);
        Assert.Equal((first.Dropped, first.Duplicated, first.Reordered, first.Steps), (second.Dropped, second.Duplicated, second.Reordered, second.Steps));

        // The impairments really happened.
        Assert.True(first.Dropped > 0 && first.Duplicated > 0 && first.Reordered > 0);
        Assert.NotEqual(first.PingOrder.Order().ToArray(), first.PingOrder); // reordered
        Assert.True(first.PingOrder.Length != first.PingOrder.Distinct().Count()); // duplicated
        Assert.True(first.PingOrder.Distinct().Count() < 200); // lost
        // Every pong answers a ping that arrived.
        Assert.All(first.PongOrder, n => Assert.Contains(n, first.PingOrder));
    }

    [Fact]
    public void DifferentSeed_DifferentFate()
    {
        var first = PingPong(7, 8);
        var other = PingPong(9, 8);
        Assert.NotEqual(first.PingOrder, other.PingOrder);
    }

    [Fact]
    public void CleanLink_DeliversInOrder_WithAddressing_AndDelay()
    {
        var net = new VirtualNetwork();
        var ca = new PingPongCore();
        var cb = new PingPongCore();
        var a = net.Add<PingEvent>("a", ca, null, A);
        var b = net.Add<PingEvent>("b", cb, null, B);
        net.Connect(a, b, new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(5) });
        for (int i = 0; i < 10; i++) ca.SendPing(i, B);
        Assert.True(net.RunUntil(() => a.EventsOf<PingEvent.Ponged>().Count() == 10, TimeSpan.FromSeconds(1)));
        var pinged = b.EventsOf<PingEvent.Pinged>().ToList();
        Assert.Equal(Enumerable.Range(0, 10), pinged.Select(p => p.N));
        Assert.All(pinged, p => Assert.Equal(new DatagramPath(B, A), p.Path));
        Assert.All(pinged, p => Assert.Equal(TimeSpan.FromMilliseconds(5), p.Now));
        Assert.Equal(TimeSpan.FromMilliseconds(10), net.Now); // pongs arrive one more delay later
        Assert.All(a.EventsOf<PingEvent.Ponged>(), p => Assert.Equal(A, p.Path.Local));
    }

    [Fact]
    public void Multicast_ReachesEveryOtherNode_UnknownUnicastIsCounted_ConnectedLayerGoesToPeer()
    {
        var net = new VirtualNetwork();
        var cores = Enumerable.Range(0, 3).Select(_ => new PingPongCore()).ToArray();
        var nodes = cores.Select((c, i) => net.Add<PingEvent>($"n{i}", c, null, new IPEndPoint(IPAddress.Parse($"10.0.0.{i + 1}"), 5353))).ToArray();
        var group = new IPEndPoint(IPAddress.Parse("224.0.0.251"), 5353);
        cores[0].SendPing(1, group);
        cores[0].SendPing(2, new IPEndPoint(IPAddress.Parse("10.9.9.9"), 5353));
        net.RunFor(TimeSpan.FromMilliseconds(50));
        Assert.Empty(nodes[0].EventsOf<PingEvent.Pinged>());
        Assert.Equal(2, nodes[0].EventsOf<PingEvent.Ponged>().Count()); // both receivers answered by unicast
        foreach (var n in nodes[1..])
        {
            var p = Assert.Single(n.EventsOf<PingEvent.Pinged>());
            Assert.Equal(group, p.Path.Local);
            Assert.Equal(nodes[0].Addresses[0], p.Path.Remote);
        }
        Assert.Equal(1, nodes[0].Unroutable);

        // A connected layer (no addresses on the transmit) goes to the Connect()ed peer.
        var net2 = new VirtualNetwork();
        var x = new PingPongCore();
        var y = new PingPongCore();
        var nx = net2.Add<PingEvent>("x", x, null);
        var ny = net2.Add<PingEvent>("y", y, null);
        net2.Connect(nx, ny);
        x.SendPing(5, null);
        Assert.True(net2.RunUntil(() => ny.EventsOf<PingEvent.Pinged>().Any(), TimeSpan.FromSeconds(1)));
        Assert.Equal(5, ny.EventsOf<PingEvent.Pinged>().Single().N);
    }

    [Fact]
    public void Deadlines_RunInVirtualTime_AndInjectReachesTheCore()
    {
        var net = new VirtualNetwork();
        var c = new PingPongCore { Deadline = TimeSpan.FromSeconds(30) };
        var n = net.Add<PingEvent>("c", c, null, A);
        Assert.True(net.RunUntil(() => n.EventsOf<PingEvent.DeadlineFired>().Any(), TimeSpan.FromMinutes(1)));
        Assert.Equal(TimeSpan.FromSeconds(30), net.Now);
        Assert.Equal(TimeSpan.FromSeconds(30), n.EventsOf<PingEvent.DeadlineFired>().Single().Now);

        net.Inject(n, "garbage"u8, new DatagramPath(A, B));
        Assert.Equal(7, Assert.IsType<PingEvent.Garbage>(n.Events[^1]).Length);
    }

    [Fact]
    public void SeededRandomNumberGenerator_IsDeterministic()
    {
        using var r1 = new SeededRandomNumberGenerator(42);
        using var r2 = new SeededRandomNumberGenerator(42);
        using var r3 = new SeededRandomNumberGenerator(43);
        var a = new byte[37];
        var b = new byte[37];
        var c = new byte[37];
        r1.GetBytes(a);
        r2.GetBytes(b);
        r3.GetBytes(c);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(37, r1.BytesGenerated);
        var nz = new byte[1000];
        r1.GetNonZeroBytes(nz);
        Assert.DoesNotContain((byte)0, nz);
        // Roughly uniform: every byte value shows up in 64 KiB.
        var big = new byte[65536];
        r1.GetBytes(big);
        Assert.Equal(256, big.Distinct().Count());
    }
}
