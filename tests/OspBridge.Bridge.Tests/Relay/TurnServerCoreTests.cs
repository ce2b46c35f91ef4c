using System.Buffers.Binary;
using OspBridge.Bridge.Relay;
using OspBridge.Net.Core;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Tests.Relay;

public sealed class TurnServerCoreTests
{
    private static readonly byte[] Secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private static readonly IPEndPoint Server = new(IPAddress.Parse("10.1.0.254"), 3478);
    private static readonly IPEndPoint Client = new(IPAddress.Parse("10.1.0.1"), 51000);
    private static readonly IPAddress RelayIp = IPAddress.Parse("10.2.0.254");
    private static readonly IPEndPoint Peer = new(IPAddress.Parse("10.2.0.1"), 52000);
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(100);

    private static (TurnServerCore Core, FakePorts Ports, TurnTestClient Client) Make(Func<TurnRelayOptions, TurnRelayOptions>? tweak = null, IPEndPoint? client = null)
    {
        var ports = new FakePorts();
        var o = new TurnRelayOptions { Secret = Secret, Ports = ports, Random = new SeededRandomNumberGenerator(7) };
        var core = new TurnServerCore(tweak is null ? o : tweak(o));
        var c = new TurnTestClient(core, client ?? Client, Server);
        (c.Username, c.Password) = TurnCredentials.Mint(Secret, RelayIp, T0 + TimeSpan.FromHours(1));
        return (core, ports, c);
    }

    private static IPEndPoint? Attr(StunMessage m, ushort type) =>
        m.TryGetAttribute(type, out var v) && StunXorAddress.TryRead(v, m.TransactionId, true, out var ep) ? ep : null;

    [Fact]
    public void Allocate_challenges_then_allocates_on_the_relay_address_of_the_credential()
    {
        var (core, ports, c) = Make();
        var ok = c.Allocate(T0);
        Assert.Equal(StunClass.SuccessResponse, ok.Class);
        Assert.True(ok.VerifyMessageIntegrity(c.Key), "the Allocate success is not signed with the long-term key");
        Assert.Equal(new IPEndPoint(RelayIp, 40000), Attr(ok, TurnConstants.AttrXorRelayedAddress));
        Assert.Equal(Client, Attr(ok, StunAttributeType.XorMappedAddress));
        Assert.True(ok.TryGetAttribute(TurnConstants.AttrLifetime, out var life));
        Assert.Equal(600u, BinaryPrimitives.ReadUInt32BigEndian(life));
        Assert.Equal(1, core.AllocationCount);
        Assert.Single(ports.Open);
        Assert.True(core.TryPollEvent(out var ev) && ev.Kind == TurnEventKind.Allocated && ev.Client.Equals(Client));
    }

    [Fact]
    public void Send_indication_and_data_indication_relay_both_ways_only_with_a_permission()
    {
        var (core, _, c) = Make();
        var relay = Attr(c.Allocate(T0), TurnConstants.AttrXorRelayedAddress)!;
        byte[] payload = [1, 2, 3, 4, 5];

        byte[] Send()
        {
            var tx = c.NextTransaction();
            return new StunMessageBuilder(TurnConstants.Send, StunClass.Indication, tx)
                .AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx)).AddAttribute(TurnConstants.AttrData, payload).ToArray();
        }

        Assert.Empty(c.Send(Send(), T0)); // no permission yet
        var fromPeer = TurnTestClient.Deliver(core, [9, 9], new DatagramPath(relay, Peer), T0);
        Assert.Empty(fromPeer);

        var tx = c.NextTransaction();
        var perm = c.Call(c.Sign(c.Request(TurnConstants.CreatePermission, tx).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))), T0);
        Assert.Equal(StunClass.SuccessResponse, perm.Class);

        var toPeer = c.Send(Send(), T0 + TimeSpan.FromSeconds(1));
        Assert.Single(toPeer);
        Assert.Equal(payload, toPeer[0].Bytes);
        Assert.Equal(new DatagramPath(relay, Peer), toPeer[0].Path);

        var back = TurnTestClient.Deliver(core, [7, 8, 9], new DatagramPath(relay, Peer), T0 + TimeSpan.FromSeconds(1));
        Assert.Single(back);
        Assert.Equal(Client, back[0].Path.Remote);
        Assert.True(StunMessage.TryParse(back[0].Bytes, out var data));
        Assert.Equal((TurnConstants.Data, StunClass.Indication), (data!.Method, data.Class));
        Assert.Equal(Peer, Attr(data, TurnConstants.AttrXorPeerAddress));
        Assert.True(data.TryGetAttribute(TurnConstants.AttrData, out var d));
        Assert.Equal([7, 8, 9], d.ToArray());
        Assert.Equal(5, core.BytesToPeers);
        Assert.Equal(3, core.BytesToClients);

        // The permission lapses after 300 s: both directions stop.
        var later = T0 + TimeSpan.FromSeconds(302);
        Assert.Empty(c.Send(Send(), later));
        Assert.Empty(TurnTestClient.Deliver(core, [1], new DatagramPath(relay, Peer), later));
    }

    [Fact]
    public void ChannelBind_then_ChannelData_both_ways()
    {
        var (core, _, c) = Make();
        var relay = Attr(c.Allocate(T0), TurnConstants.AttrXorRelayedAddress)!;
        var tx = c.NextTransaction();
        var bind = c.Call(c.Sign(c.Request(TurnConstants.ChannelBind, tx)
            .AddAttribute(TurnConstants.AttrChannelNumber, [0x40, 0x01, 0, 0]).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))), T0);
        Assert.Equal(StunClass.SuccessResponse, bind.Class);

        var cd = new byte[4 + 6];
        TurnChannelData.Write(cd, 0x4001, [1, 2, 3, 4, 5, 6]);
        var toPeer = c.Send(cd, T0);
        Assert.Single(toPeer);
        Assert.Equal([1, 2, 3, 4, 5, 6], toPeer[0].Bytes);
        Assert.Equal(Peer, toPeer[0].Path.Remote);

        var back = TurnTestClient.Deliver(core, [42, 43], new DatagramPath(relay, Peer), T0);
        Assert.Single(back);
        Assert.True(TurnChannelData.TryRead(back[0].Bytes, out ushort ch, out int off, out int len));
        Assert.Equal((0x4001, 2), (ch, len));
        Assert.Equal([42, 43], back[0].Bytes.AsSpan(off, len).ToArray());

        // An unbound channel, and a channel outside 0x4000-0x4FFF, relay nothing.
        TurnChannelData.Write(cd, 0x4002, [1, 2, 3, 4, 5, 6]);
        Assert.Empty(c.Send(cd, T0));
        tx = c.NextTransaction();
        var bad = c.Call(c.Sign(c.Request(TurnConstants.ChannelBind, tx)
            .AddAttribute(TurnConstants.AttrChannelNumber, [0x50, 0x00, 0, 0]).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))), T0);
        Assert.Equal(400, bad.ErrorCode?.Code);
    }

    [Fact]
    public void An_expired_nonce_gets_438_with_a_fresh_one_and_the_retry_succeeds()
    {
        var (core, _, c) = Make(o => new TurnRelayOptions { Secret = o.Secret, Ports = o.Ports, Random = o.Random, NonceLifetime = TimeSpan.FromMinutes(10) });
        var relay = Attr(c.Allocate(T0), TurnConstants.AttrXorRelayedAddress);
        Assert.NotNull(relay);
        var first = c.Nonce!;

        // Within its lifetime the nonce works (a Refresh at +4 min).
        var ok = c.Call(c.Sign(c.Request(TurnConstants.Refresh)), T0 + TimeSpan.FromMinutes(4));
        Assert.True(ok.Class == StunClass.SuccessResponse, $"Refresh with a fresh nonce: {ok.Class} {ok.ErrorCode?.Code}");

        // After it (+11 min): 438 with another nonce; the retry with that one succeeds.
        var late = T0 + TimeSpan.FromMinutes(11);
        var stale = c.Call(c.Sign(c.Request(TurnConstants.Refresh)), late);
        Assert.Equal(438, stale.ErrorCode?.Code);
        Assert.True(stale.TryGetAttribute(StunAttributeType.Nonce, out var fresh), "438 without NONCE");
        Assert.False(fresh.SequenceEqual(first), "the 438 repeated the expired nonce");
        Assert.True(stale.TryGetAttribute(StunAttributeType.Realm, out _), "438 without REALM");
        c.Nonce = fresh.ToArray();
        var retried = c.Call(c.Sign(c.Request(TurnConstants.Refresh)), late);
        Assert.True(retried.Class == StunClass.SuccessResponse, $"Refresh with the fresh nonce: {retried.Class} {retried.ErrorCode?.Code}");

        // A forged nonce (right shape, expiry pushed far out, wrong MAC) is stale too.
        var forged = (byte[])c.Nonce.Clone();
        "FFFFFFFF"u8.CopyTo(forged);
        c.Nonce = forged;
        Assert.Equal(438, c.Call(c.Sign(c.Request(TurnConstants.Refresh)), late).ErrorCode?.Code);
        Assert.Equal(1, core.AllocationCount);
    }

    [Fact]
    public void Next_deadline_is_the_earliest_allocation_expiry_and_follows_refresh_and_removal()
    {
        var (core, ports, c) = Make();
        Assert.Null(core.NextDeadline);
        c.Allocate(T0);
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), core.NextDeadline);
        var c2 = new TurnTestClient(core, new IPEndPoint(IPAddress.Parse("10.1.0.3"), 5003), Server) { Username = c.Username, Password = c.Password };
        c2.Allocate(T0 + TimeSpan.FromMinutes(1));
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), core.NextDeadline);
        // The first refreshes to 20 minutes: the second's expiry is now the earliest.
        var life = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(life, 1200);
        Assert.Equal(StunClass.SuccessResponse, c.Call(c.Sign(c.Request(TurnConstants.Refresh).AddAttribute(TurnConstants.AttrLifetime, life)), T0 + TimeSpan.FromMinutes(2)).Class);
        Assert.Equal(T0 + TimeSpan.FromMinutes(11), core.NextDeadline);
        // The second expires at its deadline: closed, and the deadline moves to the first's.
        core.HandleDeadline(T0 + TimeSpan.FromMinutes(11));
        Assert.Equal(1, core.AllocationCount);
        Assert.Single(ports.Closed);
        Assert.Equal(T0 + TimeSpan.FromMinutes(22), core.NextDeadline);
    }

    [Fact]
    public void Bad_credentials_nonce_transport_and_attributes_get_the_RFC_errors()
    {
        var (core, ports, c) = Make();
        c.Allocate(T0); // learns the nonce
        var other = new TurnTestClient(core, new IPEndPoint(IPAddress.Parse("10.1.0.2"), 5000), Server) { Username = c.Username, Password = "wrong-password-000000000", Nonce = c.Nonce };
        Assert.Equal(401, other.Call(other.Sign(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))), T0).ErrorCode?.Code);

        // A username whose relay address was changed no longer matches its password.
        other.Username = c.Username!.Replace("10.2.0.254", "127.0.0.1", StringComparison.Ordinal);
        other.Password = c.Password;
        Assert.Equal(401, other.Call(other.Sign(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))), T0).ErrorCode?.Code);

        other.Username = c.Username;
        // Stale nonce: 438 with the current one.
        other.Nonce = "0000"u8.ToArray();
        var stale = other.Call(other.Sign(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))), T0);
        Assert.Equal(438, stale.ErrorCode?.Code);
        Assert.True(stale.TryGetAttribute(StunAttributeType.Nonce, out var n) && n.SequenceEqual(c.Nonce));
        other.Nonce = c.Nonce;

        Assert.Equal(442, other.Call(other.Sign(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(6))), T0).ErrorCode?.Code);
        Assert.Equal(400, other.Call(other.Sign(other.Request(TurnConstants.Allocate)), T0).ErrorCode?.Code);
        var unknown = other.Call(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17)).AddAttribute(0x0018, [0x80, 0, 0, 0]).ToArray(), T0);
        Assert.Equal(420, unknown.ErrorCode?.Code);

        // A second Allocate from the same 5-tuple (new transaction) is a mismatch; the retransmission is answered alike.
        Assert.Equal(437, c.Call(c.Sign(c.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))), T0).ErrorCode?.Code);
        // Requests on a 5-tuple without an allocation: 437.
        Assert.Equal(437, other.Call(other.Sign(other.Request(TurnConstants.Refresh)), T0).ErrorCode?.Code);
        Assert.Single(ports.Open);
        Assert.Equal(1, core.AllocationCount);

        // Expired credentials (last: time moves on 2 h, past the credential's expiry and the nonce's lifetime): with the
        // nonce current then (from the 401 challenge) the request is refused with 401, not allocated.
        var later = T0 + TimeSpan.FromHours(2);
        var challenge = other.Call(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17)).ToArray(), later);
        Assert.True(challenge.TryGetAttribute(StunAttributeType.Nonce, out var laterNonce), "401 without NONCE");
        other.Nonce = laterNonce.ToArray();
        Assert.Equal(401, other.Call(other.Sign(other.Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, TurnTestClient.RequestedTransport(17))), later).ErrorCode?.Code);
        Assert.Single(ports.Open);
    }

    [Fact]
    public void Loopback_peers_are_forbidden_and_permissions_are_bounded()
    {
        var (core, _, c) = Make(o => new TurnRelayOptions { Secret = o.Secret, Ports = o.Ports, Random = o.Random, MaxPermissionsPerAllocation = 2 });
        c.Allocate(T0);
        StunMessage Permit(IPEndPoint p)
        {
            var tx = c.NextTransaction();
            return c.Call(c.Sign(c.Request(TurnConstants.CreatePermission, tx).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(p, tx))), T0);
        }
        Assert.Equal(403, Permit(new IPEndPoint(IPAddress.Loopback, 22)).ErrorCode?.Code);
        Assert.Equal(403, Permit(new IPEndPoint(IPAddress.Parse("239.1.1.1"), 22)).ErrorCode?.Code);
        Assert.Equal(StunClass.SuccessResponse, Permit(new IPEndPoint(IPAddress.Parse("10.2.0.1"), 1)).Class);
        Assert.Equal(StunClass.SuccessResponse, Permit(new IPEndPoint(IPAddress.Parse("10.2.0.2"), 1)).Class);
        Assert.Equal(StunClass.SuccessResponse, Permit(new IPEndPoint(IPAddress.Parse("10.2.0.2"), 2)).Class); // refresh: same IP
        Assert.Equal(508, Permit(new IPEndPoint(IPAddress.Parse("10.2.0.3"), 1)).ErrorCode?.Code);
    }

    [Fact]
    public void Allocation_quota_per_credential_and_total()
    {
        var (core, _, _) = Make(o => new TurnRelayOptions { Secret = o.Secret, Ports = o.Ports, Random = o.Random, MaxAllocations = 3, MaxAllocationsPerUsername = 2 });
        var (user1, pass1) = TurnCredentials.Mint(Secret, RelayIp, T0 + TimeSpan.FromHours(1));
        var (user2, pass2) = TurnCredentials.Mint(Secret, RelayIp, T0 + TimeSpan.FromHours(1));
        int Try(int port, string u, string p)
        {
            var c = new TurnTestClient(core, new IPEndPoint(IPAddress.Parse("10.1.0.9"), port), Server) { Username = u, Password = p };
            var r = c.Allocate(T0);
            return r.Class == StunClass.SuccessResponse ? 0 : r.ErrorCode!.Value.Code;
        }
        Assert.Equal(0, Try(1, user1, pass1));
        Assert.Equal(0, Try(2, user1, pass1));
        Assert.Equal(486, Try(3, user1, pass1));
        Assert.Equal(0, Try(4, user2, pass2));
        Assert.Equal(486, Try(5, user2, pass2)); // total
        Assert.Equal(3, core.AllocationCount);
    }

    [Fact]
    public void Refresh_zero_and_expiry_end_the_allocation_and_close_its_port()
    {
        var (core, ports, c) = Make();
        c.Allocate(T0);
        var lifetime = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(lifetime, 0);
        var r = c.Call(c.Sign(c.Request(TurnConstants.Refresh).AddAttribute(TurnConstants.AttrLifetime, lifetime)), T0);
        Assert.Equal(StunClass.SuccessResponse, r.Class);
        Assert.Equal(0, core.AllocationCount);
        Assert.Single(ports.Closed);

        var (core2, ports2, c2) = Make();
        c2.Allocate(T0);
        Assert.Equal(T0 + TimeSpan.FromMinutes(10), core2.NextDeadline);
        core2.HandleDeadline(T0 + TimeSpan.FromMinutes(9));
        Assert.Equal(1, core2.AllocationCount);
        core2.HandleDeadline(T0 + TimeSpan.FromMinutes(10));
        Assert.Equal(0, core2.AllocationCount);
        Assert.Equal(ports2.Open, ports2.Closed);
        Assert.Null(core2.NextDeadline);
    }

    [Fact]
    public void Rate_limit_drops_what_exceeds_the_budget()
    {
        var (core, _, c) = Make(o => new TurnRelayOptions { Secret = o.Secret, Ports = o.Ports, Random = o.Random, BytesPerSecondPerAllocation = 10_000 });
        var relay = Attr(c.Allocate(T0), TurnConstants.AttrXorRelayedAddress)!;
        var tx = c.NextTransaction();
        c.Call(c.Sign(c.Request(TurnConstants.CreatePermission, tx).AddAttribute(TurnConstants.AttrXorPeerAddress, TurnTestClient.Xor(Peer, tx))), T0);
        int delivered = 0;
        for (int i = 0; i < 50; i++) delivered += TurnTestClient.Deliver(core, new byte[1000], new DatagramPath(relay, Peer), T0).Count;
        Assert.Equal(10, delivered);
        // One second later the budget is back.
        Assert.Single(TurnTestClient.Deliver(core, new byte[1000], new DatagramPath(relay, Peer), T0 + TimeSpan.FromSeconds(1)));
        Assert.True(core.Dropped >= 40, $"dropped {core.Dropped}");
    }

    [Fact]
    public void Binding_request_gets_the_mapped_address()
    {
        var (_, _, c) = Make();
        var r = c.Call(new StunMessageBuilder(TurnConstants.Binding, StunClass.Request, c.NextTransaction()).ToArray(), T0);
        Assert.Equal(StunClass.SuccessResponse, r.Class);
        Assert.Equal(Client, r.XorMappedAddress);
    }
}
