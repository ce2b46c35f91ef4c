using System.Diagnostics.CodeAnalysis;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// Thin SCTP-layer helper over the one test pump, <see cref="VirtualNetwork"/>: two cores of the same kind
/// (<see cref="OspBridge.WebRtc.Sctp.SctpAssociation"/>s or data-channel endpoints) as nodes "A" and "B", connected
/// by a pair of seeded <see cref="VirtualLink"/>s, with their events collected in <see cref="EventsA"/> /
/// <see cref="EventsB"/>. It adds only what the SCTP tests read: a per-step hook, a switch that stops draining B's
/// events (back-pressure tests) and the largest packet seen.
/// </summary>
internal abstract class SctpVirtualPair<TSelf, TCore, TEvent>
    where TSelf : SctpVirtualPair<TSelf, TCore, TEvent>
    where TCore : class, IProtocolCore<TEvent>
{
    protected SctpVirtualPair(TCore a, TCore b, VirtualLinkOptions? aToB, VirtualLinkOptions? bToA)
    {
        A = a;
        B = b;
        Net = new VirtualNetwork(TimeSpan.FromSeconds(1));
        NodeA = Net.Add<TEvent>("A", new Tap(this, a, isB: false), EventsA.Add);
        NodeB = Net.Add<TEvent>("B", new Tap(this, b, isB: true), EventsB.Add);
        Net.Connect(NodeA, NodeB, aToB ?? new VirtualLinkOptions(), bToA ?? new VirtualLinkOptions { Seed = 2 });
    }

    public VirtualNetwork Net { get; }
    public VirtualNode NodeA { get; }
    public VirtualNode NodeB { get; }
    public TCore A { get; }
    public TCore B { get; }
    public VirtualLink AtoB => Net.Link(NodeA, NodeB);
    public VirtualLink BtoA => Net.Link(NodeB, NodeA);
    public TimeSpan Now => Net.Now;
    public List<TEvent> EventsA { get; } = [];
    public List<TEvent> EventsB { get; } = [];

    /// <summary>False: B's events stay queued in its core (the application "stops reading").</summary>
    public bool DrainB { get; set; } = true;

    /// <summary>Largest packet either side wrote.</summary>
    public int MaxPacketSeen { get; private set; }

    /// <summary>Packets A wrote.</summary>
    public long PacketsAtoB { get; private set; }

    /// <summary>Sees every SCTP packet a side writes (true: B), before the link may lose it.</summary>
    public Action<bool, ReadOnlyMemory<byte>>? OnPacket { get; set; }

    /// <summary>Sees every input a side gets (true: B): a packet or a timer, before the core handles it.</summary>
    public Action<bool>? OnInput { get; set; }

    /// <summary>Called before every step of <see cref="RunUntil"/> and in <see cref="Flush"/>; may send more data.</summary>
    public Action<TSelf>? OnStep { get; set; }

    /// <summary>Delivers whatever is due now and drains both cores (no virtual time passes).</summary>
    public void Flush()
    {
        OnStep?.Invoke((TSelf)this);
        Net.RunFor(TimeSpan.Zero);
    }

    /// <summary>Runs the network until <paramref name="condition"/> holds or virtual time / steps run out. Returns the condition.</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan? maxVirtual = null, int maxSteps = 2_000_000) =>
        Net.RunUntil(() =>
        {
            if (OnStep is { } s)
            {
                s((TSelf)this);
                Net.Drain();
            }
            return condition();
        }, maxVirtual ?? TimeSpan.FromSeconds(60), maxSteps);

    /// <summary>Forwards to the core; counts packet sizes and holds back B's events while <see cref="DrainB"/> is false.</summary>
    private sealed class Tap(SctpVirtualPair<TSelf, TCore, TEvent> pair, TCore core, bool isB) : IProtocolCore<TEvent>
    {
        public TimeSpan? NextDeadline => core.NextDeadline;

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
        {
            pair.OnInput?.Invoke(isB);
            core.Receive(datagram, path, now);
        }

        public void HandleDeadline(TimeSpan now)
        {
            pair.OnInput?.Invoke(isB);
            core.HandleDeadline(now);
        }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            if (!core.TryPollTransmit(destination, now, out transmit))
            {
                return false;
            }
            pair.MaxPacketSeen = Math.Max(pair.MaxPacketSeen, transmit.Length);
            pair.OnPacket?.Invoke(isB, destination[..transmit.Length].ToArray());
            if (!isB)
            {
                pair.PacketsAtoB++;
            }
            return true;
        }

        public bool TryPollEvent([MaybeNullWhen(false)] out TEvent ev)
        {
            if (isB && !pair.DrainB)
            {
                ev = default;
                return false;
            }
            return core.TryPollEvent(out ev);
        }
    }
}
