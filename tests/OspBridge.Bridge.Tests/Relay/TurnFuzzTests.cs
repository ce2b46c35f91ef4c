using OspBridge.Bridge.Relay;
using OspBridge.Net.Core;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Tests.Relay;

/// <summary>Mutated TURN traffic (fixed seeds) never throws, never grows the core beyond its limits.</summary>
public sealed class TurnFuzzTests
{
    private static readonly byte[] Secret = Enumerable.Range(1, 32).Select(i => (byte)(i * 3)).ToArray();
    private static readonly IPEndPoint Server = new(IPAddress.Parse("10.1.0.254"), 3478);
    private static readonly IPAddress RelayIp = IPAddress.Parse("10.2.0.254");
    private static readonly IPEndPoint Peer = new(IPAddress.Parse("10.2.0.1"), 52000);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Mutated_requests_indications_and_channel_data_are_survived(int seed)
    {
        var ports = new FakePorts();
        var core = new TurnServerCore(new TurnRelayOptions { Secret = Secret, Ports = ports, Random = new SeededRandomNumberGenerator((ulong)seed), MaxAllocations = 8 });
        var now = TimeSpan.FromSeconds(10);
        var rng = new Random(seed);
        var client = new IPEndPoint(IPAddress.Parse("10.1.0.1"), 50000);
        var c = new TurnTestClient(core, client, Server);
        (c.Username, c.Password) = TurnCredentials.Mint(Secret, RelayIp, now + TimeSpan.FromHours(1));
        Assert.Equal(StunClass.SuccessResponse, c.Allocate(now).Class);
        var relay = ports.Open[0];

        var templates = new List<byte[]>();
        var tx = c.NextTransaction();
        templates.Add(c.Sign(c.Request(TurnConstants.CreatePermission, tx).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))));
        tx = c.NextTransaction();
        templates.Add(c.Sign(c.Request(TurnConstants.ChannelBind, tx).AddAttribute(TurnConstants.AttrChannelNumber, [0x40, 0x10, 0, 0]).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))));
        templates.Add(c.Sign(c.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))));
        templates.Add(c.Sign(c.Request(TurnConstants.Refresh).AddAttribute(TurnConstants.AttrLifetime, [0, 0, 2, 0])));
        tx = c.NextTransaction();
        templates.Add(new StunMessageBuilder(TurnConstants.Send, StunClass.Indication, tx).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx)).AddAttribute(TurnConstants.AttrData, new byte[100]).ToArray());
        var cd = new byte[104];
        TurnChannelData.Write(cd, 0x4010, new byte[100]);
        templates.Add(cd);
        foreach (var t in templates.Take(2)) TurnTestClient.Deliver(core, t, new DatagramPath(Server, client), now);

        var buf = new byte[CoreLimits.MaxDatagramSize];
        int sent = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var d = templates[rng.Next(templates.Count)].ToArray();
            int edits = rng.Next(1, 4);
            for (int e = 0; e < edits; e++)
            {
                switch (rng.Next(4))
                {
                    case 0: d[rng.Next(d.Length)] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: d = d.AsSpan(0, rng.Next(d.Length)).ToArray(); break;
                    case 2: d = [.. d, .. Enumerable.Range(0, rng.Next(1, 40)).Select(_ => (byte)rng.Next(256))]; break;
                    default: if (d.Length > 3) d[rng.Next(4)] = (byte)rng.Next(256); break;
                }
                if (d.Length == 0) break;
            }
            var from = rng.Next(5) switch
            {
                0 => new DatagramPath(relay, new IPEndPoint(IPAddress.Parse("10.2.0." + rng.Next(1, 4)), 52000)),
                1 => new DatagramPath(Server, new IPEndPoint(IPAddress.Parse("10.1.0." + rng.Next(2, 200)), rng.Next(1, 65535))),
                _ => new DatagramPath(Server, client),
            };
            core.Receive(d, from, now);
            while (core.TryPollTransmit(buf, now, out var t))
            {
                Assert.InRange(t.Length, 1, 2048);
                sent++;
            }
            while (core.TryPollEvent(out _)) { }
            now += TimeSpan.FromMilliseconds(rng.Next(0, 50));
            if (core.NextDeadline is { } dl && dl <= now) core.HandleDeadline(now);
            Assert.InRange(core.AllocationCount, 0, 8);
        }
        Assert.True(sent > 0, "the core answered nothing in 20000 datagrams");
        Assert.True(ports.Open.Count - ports.Closed.Count == core.AllocationCount, $"ports open {ports.Open.Count}, closed {ports.Closed.Count}, allocations {core.AllocationCount}");
    }

    [Fact]
    public void Wire_readers_reject_random_bytes_without_throwing()
    {
        var rng = new Random(11);
        var tx = new byte[12];
        for (int i = 0; i < 50_000; i++)
        {
            var d = new byte[rng.Next(0, 80)];
            rng.NextBytes(d);
            if (d.Length > 8 && rng.Next(2) == 0) { d[4] = 0x21; d[5] = 0x12; d[6] = 0xA4; d[7] = 0x42; d[0] &= 0x3F; }
            TurnStunWire.TryReadSendIndication(d, out _, out int off, out int len);
            if (TurnChannelData.TryRead(d, out _, out int o2, out int l2)) Assert.True(o2 + l2 <= d.Length);
            if (StunXorAddress.TryRead(d, tx, true, out var ep)) Assert.NotNull(ep);
            int pos = StunConstants.HeaderLength;
            for (int k = 0; k < 100 && StunMessage.TryNextAttribute(d, ref pos, out _, out int vo, out int vl); k++) Assert.True(vo + vl <= d.Length);
        }
    }
}
