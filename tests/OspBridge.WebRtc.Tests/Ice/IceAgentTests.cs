using System.Net;
using System.Text;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Ice;
using OspBridge.WebRtc.Stun;
using static OspBridge.WebRtc.Tests.Ice.IceNet;

namespace OspBridge.WebRtc.Tests.Ice;

public class IceAgentTests
{
    private static (IceAgent A, IceAgent B) Agents(bool bLite = false, int seed = 7, TimeSpan? checkingTimeout = null)
    {
        var a = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator((ulong)(seed)), TieBreaker = 1000 });
        var b = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator((ulong)(seed + 1)), TieBreaker = 2000, Lite = bLite, CheckingTimeout = checkingTimeout ?? TimeSpan.FromSeconds(30) });
        a.SetRole(IceRole.Controlling);
        b.SetRole(IceRole.Controlled);
        return (a, b);
    }

    /// <summary>
    /// The common set-up: one host candidate each (A 10.0.0.1:1000, B 10.0.1.1:2000), candidates and credentials
    /// exchanged, both started, run until both have a selected pair — and with <paramref name="completed"/> until A is
    /// Completed and B Connected — within <paramref name="within"/> (default 5 s of virtual time).
    /// </summary>
    private static IceNet Connect(IceAgent a, IceAgent b, bool completed = false, TimeSpan? within = null)
    {
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        net.ExchangeCandidates();
        net.Start();
        Assert.True(net.RunUntil(() => a.SelectedPair is not null && b.SelectedPair is not null
                && (!completed || (a.State == RTCIceConnectionState.Completed && b.State == RTCIceConnectionState.Connected)), within ?? TimeSpan.FromSeconds(5)),
            $"not connected after {net.Now}: A {a.State} (pair {a.SelectedPair?.RemoteEndPoint}), B {b.State} (pair {b.SelectedPair?.RemoteEndPoint})");
        return net;
    }

    private static void AssertConsistent(IceNet net)
    {
        var pa = net.A.SelectedPair!;
        var pb = net.B.SelectedPair!;
        Assert.Equal(pa.Local.Base, pb.RemoteEndPoint);
        Assert.Equal(pb.Local.Base, pa.RemoteEndPoint);
        Assert.True(pa.Nominated && pb.Nominated);
    }

    [Fact]
    public void Several_candidates_settle_on_a_working_pair()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.2:1001"));                // preferred (first) but unreachable
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        a.AddLocalHostCandidate(Ep("[fd00::1]:1002"));               // no IPv6 on B: never paired
        b.AddLocalHostCandidate(Ep("10.0.1.2:2001"));                // unreachable
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        net.Blocked.Add(Ep("10.0.0.2:1001"));
        net.Blocked.Add(Ep("10.0.1.2:2001"));
        net.ExchangeCandidates();
        Assert.Equal(4, a.Pairs.Count);
        net.Start();
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Completed && b.State == RTCIceConnectionState.Connected, TimeSpan.FromSeconds(10)));
        Assert.Equal(Ep("10.0.0.1:1000"), a.SelectedPair!.Local.Base);
        Assert.Equal(Ep("10.0.1.1:2000"), a.SelectedPair.RemoteEndPoint);
        AssertConsistent(net);
        Assert.True(net.Now < TimeSpan.FromSeconds(3), $"took {net.Now}");
        // It stays up with consent checks for a minute.
        net.Run(TimeSpan.FromSeconds(60));
        Assert.Equal(RTCIceConnectionState.Completed, a.State);
        Assert.Equal(RTCIceConnectionState.Connected, b.State);
    }

    [Fact]
    public void Connects_under_loss_and_reordering()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        a.AddLocalHostCandidate(Ep("10.0.0.3:1003"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b, new VirtualLinkOptions { LossRate = 0.3, ReorderRate = 0.3, Delay = TimeSpan.FromMilliseconds(20), Seed = 3 });
        net.ExchangeCandidates();
        net.Start();
        Assert.True(net.RunUntil(() => a.SelectedPair is not null && b.SelectedPair is not null && b.State == RTCIceConnectionState.Connected, TimeSpan.FromSeconds(20)));
        AssertConsistent(net);
    }

    [Fact]
    public void Consent_expiry_is_detected_disconnected_then_failed()
    {
        var (a, b) = Agents();
        var net = Connect(a, b);
        var cutAt = net.Now;
        net.Cut = true;
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Disconnected, TimeSpan.FromSeconds(10)));
        var disconnectedAfter = net.Now - cutAt;
        Assert.InRange(disconnectedAfter, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(8));
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Failed && b.State == RTCIceConnectionState.Failed, TimeSpan.FromSeconds(40)));
        var failedAfter = net.Now - cutAt;
        Assert.InRange(failedAfter, TimeSpan.FromSeconds(27), TimeSpan.FromSeconds(33));
        // Failed agents stay quiet.
        Assert.False(a.TryPollTransmit(new byte[2048], net.Now, out _));
        Assert.Null(a.NextDeadline);
        // The state changes were queued as events, in order, ending in Failed.
        var states = net.NodeA.EventsOf<IceEvent>().Where(e => e.Kind == IceEventKind.StateChanged).Select(e => e.State).ToList();
        Assert.Equal([RTCIceConnectionState.Checking, RTCIceConnectionState.Connected, RTCIceConnectionState.Completed, RTCIceConnectionState.Disconnected, RTCIceConnectionState.Failed], states);
    }

    [Fact]
    public void Recovers_from_disconnected_when_consent_returns()
    {
        var (a, b) = Agents();
        var net = Connect(a, b);
        net.Cut = true;
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Disconnected, TimeSpan.FromSeconds(10)));
        net.Cut = false;
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Completed && b.State == RTCIceConnectionState.Connected, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Ice_restart_selects_a_pair_of_the_new_session_while_data_stays_on_the_old_one()
    {
        var (a, b) = Agents();
        var net = Connect(a, b, completed: true);
        var (oldA, oldB) = (a.LocalCredentials, b.LocalCredentials);
        var oldPairB = b.SelectedPair!;
        int selectedBefore = net.NodeB.EventsOf<IceEvent>().Count(e => e.Kind == IceEventKind.SelectedPairChanged);

        // WHEP order: the offerer (A, controlling) makes new credentials and sends them; the answerer (B) restarts first.
        var newA = IceCredentials.Generate(new SeededRandomNumberGenerator(99));
        var newB = b.Restart(newA, net.Now);
        Assert.NotEqual(oldB, newB);
        Assert.Equal(newB, b.LocalCredentials);
        Assert.True(b.IsRestarting);
        Assert.Empty(b.RemoteCandidates);
        // Meanwhile the old pair still carries data (and A, not restarted yet, is refused by B's new credentials).
        Assert.Same(oldPairB, b.SelectedPair);
        Assert.True(b.IsValidated(oldPairB.Local.Base, oldPairB.RemoteEndPoint));
        net.Run(TimeSpan.FromSeconds(1));
        Assert.True(b.IsValidated(oldPairB.Local.Base, oldPairB.RemoteEndPoint), "data on the old pair was refused during the restart");

        // The answer reaches A: it restarts with B's credentials and its own new ones; candidates are signalled again.
        a.Restart(newB, net.Now, newA);
        Assert.Equal(newA, a.LocalCredentials);
        Assert.NotEqual(oldA, a.LocalCredentials);
        net.ExchangeCandidates();
        Assert.True(net.RunUntil(() => !a.IsRestarting && !b.IsRestarting, TimeSpan.FromSeconds(10)),
            $"restart did not complete: A restarting {a.IsRestarting} ({a.State}), B restarting {b.IsRestarting} ({b.State})");
        Assert.NotSame(oldPairB, b.SelectedPair);
        Assert.True(b.SelectedPair!.Nominated && a.SelectedPair!.Nominated);
        AssertConsistent(net);
        Assert.True(net.NodeB.EventsOf<IceEvent>().Count(e => e.Kind == IceEventKind.SelectedPairChanged) > selectedBefore);
        Assert.Equal(1, a.Restarts);
        Assert.Equal(1, b.Restarts);
        // Consent under the new credentials keeps it up.
        net.Run(TimeSpan.FromSeconds(60));
        Assert.Equal(RTCIceConnectionState.Completed, a.State);
        Assert.Equal(RTCIceConnectionState.Connected, b.State);
    }

    /// <summary>
    /// B restarts but A never hears of it (the answer was lost): once the checking timeout has passed B must stop
    /// restarting and its next deadline must lie in the future — a deadline left in the past makes a driver spin. With
    /// a checking timeout shorter than consent's B gives up the restart and keeps the old pair; with the default (equal
    /// to consent's) consent under the new credentials has expired too and B fails.
    /// </summary>
    [Theory]
    [InlineData(10, false)]
    [InlineData(30, true)]
    public void An_unanswered_restart_ends_after_the_checking_timeout_without_a_past_deadline(int checkingSeconds, bool fails)
    {
        var (a, b) = Agents(checkingTimeout: TimeSpan.FromSeconds(checkingSeconds));
        var net = Connect(a, b, completed: true);
        var oldPair = b.SelectedPair;
        TimeSpan restartedAt = net.Now;
        b.Restart(IceCredentials.Generate(new SeededRandomNumberGenerator(5)), restartedAt);
        Assert.True(b.IsRestarting);

        TimeSpan late = restartedAt + TimeSpan.FromSeconds(checkingSeconds) + TimeSpan.FromMilliseconds(1);
        b.HandleDeadline(late);
        Assert.False(b.IsRestarting);
        Assert.True(b.NextDeadline is null || b.NextDeadline > late, $"next deadline {b.NextDeadline} is not after {late}");
        Assert.Equal(fails, b.State == RTCIceConnectionState.Failed);
        if (!fails) Assert.Same(oldPair, b.SelectedPair);
    }

    [Fact]
    public void Ice_restart_of_a_failed_agent_checks_again_and_before_start_is_refused()
    {
        var (a, b) = Agents();
        Assert.Throws<WebRtcException>(() => b.Restart(IceCredentials.Generate(), TimeSpan.Zero));
        var net = Connect(a, b);
        net.Cut = true;
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Failed && b.State == RTCIceConnectionState.Failed, TimeSpan.FromSeconds(40)));
        net.Cut = false;
        var newA = IceCredentials.Generate(new SeededRandomNumberGenerator(5));
        var newB = b.Restart(newA, net.Now);
        a.Restart(newB, net.Now, newA);
        Assert.Equal(RTCIceConnectionState.Checking, a.State);
        Assert.Null(a.SelectedPair);
        net.ExchangeCandidates();
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Completed && b.State == RTCIceConnectionState.Connected, TimeSpan.FromSeconds(10)),
            $"after restart: A {a.State}, B {b.State}");
        AssertConsistent(net);
    }

    [Fact]
    public void Role_conflict_resolved_by_tie_breaker()
    {
        var a = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(1UL), TieBreaker = 5 });
        var b = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(2UL), TieBreaker = 9 });
        a.SetRole(IceRole.Controlling);
        b.SetRole(IceRole.Controlling);
        var net = Connect(a, b, within: TimeSpan.FromSeconds(10));
        Assert.Equal(IceRole.Controlled, a.Role); // lower tie-breaker yields
        Assert.Equal(IceRole.Controlling, b.Role);
        AssertConsistent(net);
    }

    [Fact]
    public void Both_controlled_conflict_also_resolves()
    {
        var a = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(1UL), TieBreaker = 50 });
        var b = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(2UL), TieBreaker = 9 });
        a.SetRole(IceRole.Controlled);
        b.SetRole(IceRole.Controlled);
        var net = Connect(a, b, within: TimeSpan.FromSeconds(10));
        Assert.Equal(IceRole.Controlling, a.Role); // higher tie-breaker takes control
        AssertConsistent(net);
    }

    [Fact]
    public void Peer_reflexive_candidates_are_learned_from_checks()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        net.ExchangeCandidates(aToB: false); // B never learns A's candidates (e.g. an unresolvable mDNS name)
        net.Start();
        Assert.True(net.RunUntil(() => a.SelectedPair is not null && b.SelectedPair is not null, TimeSpan.FromSeconds(10)));
        var prflx = Assert.Single(b.RemoteCandidates);
        Assert.Equal(IceCandidateType.PeerReflexive, prflx.Type);
        Assert.Equal("10.0.0.1", prflx.Address);
        AssertConsistent(net);
    }

    [Fact]
    public void Checks_arriving_before_the_remote_description_are_remembered()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        a.AddRemoteCandidate(b.LocalCandidates[0].Candidate);
        a.SetRemoteCredentials(b.LocalCredentials);
        a.Start(net.Now);
        net.Run(TimeSpan.FromMilliseconds(300)); // B answers A's checks without knowing A's credentials yet
        Assert.Null(b.SelectedPair);
        b.SetRemoteCredentials(a.LocalCredentials);
        b.Start(net.Now);
        Assert.True(net.RunUntil(() => a.SelectedPair is not null && b.SelectedPair is not null, TimeSpan.FromSeconds(10)));
        AssertConsistent(net);
    }

    [Fact]
    public void Lite_agent_follows_full_controlling_agent()
    {
        var (a, b) = Agents(bLite: true);
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        b.AddLocalHostCandidate(Ep("10.0.1.9:2009"));
        var net = new IceNet(a, b);
        net.Blocked.Add(Ep("10.0.1.9:2009"));
        net.ExchangeCandidates();
        net.Start();
        Assert.Equal(IceRole.Controlling, a.Role);
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Completed && b.State == RTCIceConnectionState.Connected, TimeSpan.FromSeconds(10)));
        Assert.Equal(Ep("10.0.1.1:2000"), a.SelectedPair!.RemoteEndPoint);
        AssertConsistent(net);
        net.Run(TimeSpan.FromSeconds(40)); // consent requests from A keep the lite side fresh
        Assert.Equal(RTCIceConnectionState.Connected, b.State);
        Assert.Equal(RTCIceConnectionState.Completed, a.State);
    }

    [Fact]
    public void Fails_when_no_pair_works_and_remote_gathering_is_complete()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        net.Blocked.Add(Ep("10.0.1.1:2000"));
        net.ExchangeCandidates();
        a.SetRemoteGatheringComplete();
        net.Start();
        Assert.True(net.RunUntil(() => a.State == RTCIceConnectionState.Failed, TimeSpan.FromSeconds(20)));
        Assert.True(net.Now < TimeSpan.FromSeconds(15), $"took {net.Now}");
    }

    [Fact]
    public void Unauthenticated_requests_get_401_and_create_nothing()
    {
        var agent = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(1UL)});
        var local = Ep("10.0.0.1:1000");
        agent.AddLocalHostCandidate(local);
        agent.SetRemoteCredentials(new IceCredentials("rmte", "0123456789012345678901"));
        agent.Start(TimeSpan.Zero);
        var req = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.Request, new byte[12])
            .AddUsername(agent.LocalCredentials.Ufrag + ":rmte").AddPriority(1).AddIceRole(true, 1)
            .AddMessageIntegrity(Encoding.UTF8.GetBytes("not-the-password-at-all")).AddFingerprint().ToArray();
        Assert.True(agent.ReceiveStun(req, local, Ep("10.9.9.9:9"), TimeSpan.Zero));
        var buf = new byte[2048];
        Assert.True(agent.TryPollTransmit(buf, TimeSpan.Zero, out var t));
        while (t.Path.Remote!.Port != 9 && agent.TryPollTransmit(buf, TimeSpan.Zero, out t)) { }
        Assert.True(StunMessage.TryParse(buf.AsSpan(0, t.Length), out var resp));
        Assert.Equal(StunClass.ErrorResponse, resp!.Class);
        Assert.Equal(401, resp.ErrorCode!.Value.Code);
        Assert.Empty(agent.RemoteCandidates);
    }

    [Fact]
    public void Gathering_and_data_are_queued_events_and_data_only_from_validated_pairs()
    {
        var (a, b) = Agents();
        a.AddLocalHostCandidate(Ep("10.0.0.1:1000"));
        a.CompleteGathering();
        a.CompleteGathering(); // once only
        Assert.True(a.TryPollEvent(out var gathered));
        Assert.Equal(IceEventKind.CandidateGathered, gathered.Kind);
        Assert.Equal("10.0.0.1", gathered.Candidate!.Address);
        Assert.True(a.TryPollEvent(out var complete));
        Assert.Equal(IceEventKind.GatheringComplete, complete.Kind);
        Assert.False(a.TryPollEvent(out _));

        b.AddLocalHostCandidate(Ep("10.0.1.1:2000"));
        var net = new IceNet(a, b);
        net.ExchangeCandidates();
        net.Start();
        Assert.True(net.RunUntil(() => a.SelectedPair is not null && b.SelectedPair is not null, TimeSpan.FromSeconds(5)));
        Assert.Equal(Ep("10.0.1.1:2000"), Assert.Single(net.NodeA.EventsOf<IceEvent>(), e => e.Kind == IceEventKind.SelectedPairChanged).Pair!.RemoteEndPoint);

        byte[] dtls = [22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var local = Ep("10.0.0.1:1000");
        Assert.True(a.IsValidated(local, Ep("10.0.1.1:2000")));
        Assert.False(a.IsValidated(local, Ep("10.0.1.1:2001")));
        net.Network.Inject(net.NodeA, dtls, new OspBridge.Net.Core.DatagramPath(local, Ep("10.0.1.1:2001"))); // not validated: dropped
        Assert.DoesNotContain(net.NodeA.EventsOf<IceEvent>(), e => e.Kind == IceEventKind.DataReceived);
        net.Network.Inject(net.NodeA, dtls, new OspBridge.Net.Core.DatagramPath(local, Ep("10.0.1.1:2000")));
        var data = Assert.Single(net.NodeA.EventsOf<IceEvent>(), e => e.Kind == IceEventKind.DataReceived);
        Assert.Equal(dtls, data.Data);
        Assert.Equal(Ep("10.0.1.1:2000"), data.Remote);
    }

    [Fact]
    public void Seeded_randomness_gives_the_same_agent()
    {
        var x = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(42UL) });
        var y = new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(42UL) });
        Assert.Equal(x.LocalCredentials, y.LocalCredentials);
        Assert.Equal(x.TieBreaker, y.TieBreaker);
        Assert.True(x.LocalCredentials.IsValid);
        Assert.NotEqual(x.LocalCredentials, new IceAgent(new IceAgentOptions { Random = new SeededRandomNumberGenerator(43UL) }).LocalCredentials);
    }

    [Fact]
    public void Candidate_attribute_round_trip()
    {
        string chrome = "candidate:2857187424 1 udp 2113937151 3e4a4b5d-1c2f-4e3b-9e0c-2ab5c2b63a55.local 54321 typ host generation 0 network-cost 999";
        Assert.True(IceCandidate.TryParse(chrome, out var c));
        Assert.True(c!.IsMdns);
        Assert.Null(c.EndPoint);
        Assert.Equal(2113937151u, c.Priority);
        Assert.Equal(chrome, c.ToString());
        string srflx = "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 10.0.0.2 rport 46243 generation 0 ufrag Dtx+";
        Assert.True(IceCandidate.TryParse("a=" + srflx, out var s));
        Assert.Equal(IceCandidateType.ServerReflexive, s!.Type);
        Assert.Equal(46243, s.RelatedPort);
        Assert.Equal(srflx, s.ToString());
        Assert.False(IceCandidate.TryParse("candidate:1 1 udp x 1.2.3.4 5 typ host", out _));
        Assert.False(IceCandidate.TryParse("candidate:1 1 udp 1 1.2.3.4 5 typ bogus", out _));
        Assert.False(IceCandidate.TryParse("candidate:1 1 udp 1 1.2.3.4 5 typ host generation", out _));
        Assert.Equal((126u << 24) + (65535u << 8) + 255u, IceCandidate.ComputePriority(IceCandidateType.Host, 65535));
    }

    [Fact]
    public void Generated_credentials_are_valid_ice_chars()
    {
        for (int i = 0; i < 50; i++) Assert.True(IceCredentials.Generate().IsValid);
        Assert.False(new IceCredentials("ab-c", "0123456789012345678901").IsValid);
    }
}
