using System.Net;
using System.Security.Cryptography;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.DataChannels;

using static OspBridge.WebRtc.Tests.PeerConnection.CoreNegotiation;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>The whole stack (JSEP, ICE, DTLS, SCTP, DCEP) as one sans-IO core, two of them on the VirtualNetwork pump.</summary>
public sealed class PeerConnectionCoreTests
{
    private sealed class Pair : CorePair
    {
        public ushort ChannelA;
        public ushort? ChannelB;
        public List<byte[]> ReceivedByB { get; } = [];
        public List<byte[]> ReceivedByA { get; } = [];
    }

    /// <summary>Offer/answer between two cores on a virtual network; A opens channel "chat".</summary>
    private static Pair Setup(VirtualLinkOptions link, int seed)
    {
        var net = new VirtualNetwork();
        var a = NewCore((ulong)seed);
        var b = NewCore((ulong)(seed + 1));
        Pair? p = null;
        var na = net.Add<PeerConnectionEvent>("A", a, e => OnEvent(p!, e, fromA: true), EpA);
        var nb = net.Add<PeerConnectionEvent>("B", b, e => OnEvent(p!, e, fromA: false), EpB);
        net.Connect(na, nb, link, link with { Seed = link.Seed + 1 });
        p = new Pair { Net = net, A = a, B = b, NodeA = na, NodeB = nb };

        Offer(a, net.Now);
        Assert.Contains("a=end-of-candidates", a.LocalDescription!.Sdp, StringComparison.Ordinal);
        Answer(a, b, net.Now);
        Assert.Equal(RTCSignalingState.Stable, a.SignalingState);
        Assert.Equal(RTCSignalingState.Stable, b.SignalingState);
        Assert.True(a.TransportsCreated && b.TransportsCreated);
        p.ChannelA = a.OpenChannel("chat", new DataChannelOptions(), net.Now);
        return p;
    }

    private static void OnEvent(Pair p, PeerConnectionEvent e, bool fromA)
    {
        if (e.Kind != PeerConnectionEventKind.DataChannel) return;
        var dc = e.DataChannel;
        if (dc.Kind == DataChannelEventKind.ChannelOpened && !fromA && dc.IsRemote) p.ChannelB = dc.ChannelId;
        if (dc.Kind == DataChannelEventKind.MessageReceived) (fromA ? p.ReceivedByA : p.ReceivedByB).Add(dc.Payload ?? []);
    }

    private static bool Open(Pair p) =>
        p.A.ConnectionState == RTCPeerConnectionState.Connected && p.B.ConnectionState == RTCPeerConnectionState.Connected
        && p.ChannelB is not null && p.NodeA.EventsOf<PeerConnectionEvent>().Any(e => e.DataChannel.Kind == DataChannelEventKind.ChannelOpened);

    [Fact]
    public void Two_stacks_connect_and_exchange_messages_under_seeded_loss_reordering_and_duplication()
    {
        var link = new VirtualLinkOptions { LossRate = 0.1, ReorderRate = 0.2, DuplicateRate = 0.05, Delay = TimeSpan.FromMilliseconds(15), Seed = 11 };
        var p = Setup(link, seed: 5);
        Assert.True(p.Net.RunUntil(() => Open(p), TimeSpan.FromSeconds(60)), $"A {p.A.ConnectionState}/{p.A.Ice.State}/{p.A.DtlsState}, B {p.B.ConnectionState}/{p.B.Ice.State}/{p.B.DtlsState}");
        var connectedAt = p.Net.Now;

        // 200 messages of 1 B .. ~6 KB (several SCTP packets each) A -> B, 50 B -> A, reliable and ordered.
        var rnd = new Random(3);
        var sentByA = Enumerable.Range(0, 200).Select(i => { var m = new byte[1 + rnd.Next(6000)]; rnd.NextBytes(m); m[0] = (byte)i; return m; }).ToList();
        var sentByB = Enumerable.Range(0, 50).Select(i => { var m = new byte[1 + rnd.Next(3000)]; rnd.NextBytes(m); return m; }).ToList();
        foreach (var m in sentByA) p.A.Send(p.ChannelA, m, isText: false, p.Net.Now);
        foreach (var m in sentByB) p.B.Send(p.ChannelB!.Value, m, isText: false, p.Net.Now);
        Assert.True(p.Net.RunUntil(() => p.ReceivedByB.Count == sentByA.Count && p.ReceivedByA.Count == sentByB.Count, TimeSpan.FromSeconds(120)),
            $"B got {p.ReceivedByB.Count}/200, A got {p.ReceivedByA.Count}/50");
        for (int i = 0; i < sentByA.Count; i++) Assert.Equal(sentByA[i], p.ReceivedByB[i]);
        for (int i = 0; i < sentByB.Count; i++) Assert.Equal(sentByB[i], p.ReceivedByA[i]);
        Assert.True(p.Net.Link(p.NodeA, p.NodeB).Dropped > 0, "the link really lost datagrams");
        Assert.True(connectedAt < TimeSpan.FromSeconds(30), $"connected after {connectedAt}");

        // Every send reported its buffered amount draining back to zero (what SendAsync awaits).
        Assert.Contains(p.NodeA.EventsOf<PeerConnectionEvent>(), e => e.DataChannel.Kind == DataChannelEventKind.BufferedAmountChanged && e.DataChannel.BufferedAmount == 0);
        Assert.Equal(0, p.A.GetBufferedAmount(p.ChannelA));

        // Close: the peer sees the ABORT / close_notify and ends up closed too.
        p.A.Close(p.Net.Now);
        Assert.True(p.Net.RunUntil(() => p.B.ConnectionState == RTCPeerConnectionState.Closed, TimeSpan.FromSeconds(30)), $"B {p.B.ConnectionState}");
        Assert.Equal(RTCSignalingState.Closed, p.A.SignalingState);
    }

    [Fact]
    public void Same_seeds_same_run()
    {
        static (TimeSpan, long) Run()
        {
            var p = Setup(new VirtualLinkOptions { LossRate = 0.05, Seed = 2 }, seed: 9);
            Assert.True(p.Net.RunUntil(() => Open(p), TimeSpan.FromSeconds(60)));
            return (p.Net.Now, p.Net.Link(p.NodeA, p.NodeB).Sent);
        }
        // ICE, SCTP and the network are seeded; only the DTLS handshake's own randomness differs, which does not
        // change sizes or timing.
        Assert.Equal(Run(), Run());
    }

    /// <summary>
    /// Issue 9 item 2: one spoofed 15-byte plaintext fatal alert per millisecond from an address ICE never validated,
    /// during the handshake and after it, must do nothing: DTLS only accepts records over the validated ICE pair.
    /// </summary>
    [Fact]
    public void Spoofed_dtls_alerts_from_another_address_do_nothing()
    {
        var p = Setup(new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(10), Seed = 4 }, seed: 21);
        // content type 21 (alert), DTLS 1.2, epoch 0, seq 0, length 2, fatal(2) handshake_failure(40)
        byte[] alert = [21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];
        // a bogus ClientHello fragment (handshake type 1, seq 0) claiming another length
        byte[] fragment = [22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 4];
        var attackers = new[] { IPEndPoint.Parse("10.0.0.66:5000"), IPEndPoint.Parse("10.0.0.2:6001") }; // a stranger, and B's host on another port
        long injected = 0;
        TimeSpan? lastInjection = null;
        void Flood()
        {
            if (lastInjection is { } last && p.Net.Now - last < TimeSpan.FromMilliseconds(1)) return;
            lastInjection = p.Net.Now;
            foreach (var from in attackers)
            {
                p.Net.Inject(p.NodeA, alert, new DatagramPath(EpA, from));
                p.Net.Inject(p.NodeB, alert, new DatagramPath(EpB, from));
                p.Net.Inject(p.NodeA, fragment, new DatagramPath(EpA, from));
                p.Net.Inject(p.NodeB, fragment, new DatagramPath(EpB, from));
                injected += 4;
            }
        }
        Assert.True(p.Net.RunUntil(() => { Flood(); return Open(p); }, TimeSpan.FromSeconds(30)),
            $"A {p.A.ConnectionState}/{p.A.DtlsState}, B {p.B.ConnectionState}/{p.B.DtlsState}");
        Assert.True(injected > 8);
        Assert.True(p.A.DroppedUnvalidated > 0 && p.B.DroppedUnvalidated > 0);
        Assert.Equal(injected, p.A.DroppedUnvalidated + p.B.DroppedUnvalidated);

        // After the handshake too: the flood goes on, the channel keeps working.
        var until = p.Net.Now + TimeSpan.FromSeconds(1);
        p.A.Send(p.ChannelA, new byte[] { 1, 2, 3 }, isText: false, p.Net.Now);
        Assert.True(p.Net.RunUntil(() => { Flood(); return p.Net.Now >= until && p.ReceivedByB.Count == 1; }, TimeSpan.FromSeconds(5)));
        Assert.Equal(RTCPeerConnectionState.Connected, p.A.ConnectionState);
        Assert.Equal(RTCPeerConnectionState.Connected, p.B.ConnectionState);
        Assert.Equal(DtlsState.Connected, p.A.DtlsState);
        Assert.Equal(new byte[] { 1, 2, 3 }, p.ReceivedByB[0]);
    }

    [Fact]
    public void Dtls_before_any_ice_validation_is_dropped_not_processed()
    {
        var p = Setup(new VirtualLinkOptions { Seed = 1 }, seed: 33);
        // No network step yet: nothing is validated. A real ClientHello-looking record from B's real address is dropped.
        var hello = new byte[60];
        hello[0] = 22; hello[1] = 0xFE; hello[2] = 0xFD; hello[12] = 47; hello[13] = 1;
        RandomNumberGenerator.Fill(hello.AsSpan(14));
        p.Net.Inject(p.NodeA, hello, new DatagramPath(EpA, EpB));
        Assert.Equal(1, p.A.DroppedUnvalidated);
        Assert.Equal(DtlsState.New, p.A.DtlsState);
        Assert.True(p.Net.RunUntil(() => Open(p), TimeSpan.FromSeconds(30)));
    }
}
