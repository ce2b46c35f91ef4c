using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc.Tests.Ice;

/// <summary>
/// Two ICE agents on the shared <see cref="VirtualNetwork"/> pump (a thin ICE helper on top of it): each agent's node
/// owns its local bases; <see cref="Blocked"/> addresses and the <see cref="Cut"/> switch are applied by a filtering
/// wrapper around each agent, so the pump itself stays generic.
/// </summary>
internal sealed class IceNet
{
    public IceAgent A { get; }
    public IceAgent B { get; }
    public VirtualNetwork Network { get; }
    public VirtualNode NodeA { get; }
    public VirtualNode NodeB { get; }
    public HashSet<IPEndPoint> Blocked { get; } = [];
    public bool Cut { get; set; }
    public TimeSpan Now => Network.Now;

    public IceNet(IceAgent a, IceAgent b, VirtualLinkOptions? link = null)
    {
        A = a;
        B = b;
        Network = new VirtualNetwork();
        NodeA = Network.Add<IceEvent>("A", new Filtered(this, a), null, [.. a.LocalCandidates.Select(c => c.Base)]);
        NodeB = Network.Add<IceEvent>("B", new Filtered(this, b), null, [.. b.LocalCandidates.Select(c => c.Base)]);
        var ab = link ?? new VirtualLinkOptions { Seed = 1 };
        Network.Connect(NodeA, NodeB, ab, ab with { Seed = ab.Seed + 100 });
    }

    public static IPEndPoint Ep(string s) => IPEndPoint.Parse(s);

    public void ExchangeCandidates(bool aToB = true, bool bToA = true)
    {
        if (bToA) foreach (var c in B.LocalCandidates) A.AddRemoteCandidate(c.Candidate);
        if (aToB) foreach (var c in A.LocalCandidates) B.AddRemoteCandidate(c.Candidate);
    }

    public void Start()
    {
        A.SetRemoteCredentials(B.LocalCredentials, B.IsLite);
        B.SetRemoteCredentials(A.LocalCredentials, A.IsLite);
        A.Start(Now);
        B.Start(Now);
    }

    /// <summary>Runs until <paramref name="until"/> holds or <paramref name="max"/> virtual time passed; returns whether it held.</summary>
    public bool RunUntil(Func<bool> until, TimeSpan max) => Network.RunUntil(until, max);

    public void Run(TimeSpan duration) => Network.RunFor(duration);

    /// <summary>The agent as the pump sees it, minus what <see cref="Blocked"/> and <see cref="Cut"/> remove.</summary>
    private sealed class Filtered(IceNet net, IceAgent agent) : IProtocolCore<IceEvent>
    {
        public TimeSpan? NextDeadline => agent.NextDeadline;

        public void HandleDeadline(TimeSpan now) => agent.HandleDeadline(now);

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
        {
            if (net.Cut || (path.Local is { } l && net.Blocked.Contains(l)) || (path.Remote is { } r && net.Blocked.Contains(r))) return;
            agent.Receive(datagram, path, now);
        }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            while (agent.TryPollTransmit(destination, now, out transmit))
            {
                var p = transmit.Path;
                if (net.Cut || (p.Local is { } l && net.Blocked.Contains(l)) || (p.Remote is { } r && net.Blocked.Contains(r))) continue;
                return true;
            }
            return false;
        }

        public bool TryPollEvent(out IceEvent ev) => agent.TryPollEvent(out ev);
    }
}
