using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>Two sans-IO associations joined by two <see cref="VirtualLink"/>s, driven in virtual time.</summary>
internal sealed class SctpTestPair
{
    private readonly byte[] _buffer = new byte[65_536];

    public SctpTestPair(SctpOptions? a = null, SctpOptions? b = null, VirtualLinkOptions? aToB = null, VirtualLinkOptions? bToA = null)
    {
        A = new SctpAssociation(a ?? new SctpOptions { IsDtlsClient = true });
        B = new SctpAssociation(b ?? new SctpOptions());
        AtoB = new VirtualLink(aToB ?? new VirtualLinkOptions());
        BtoA = new VirtualLink(bToA ?? new VirtualLinkOptions { Seed = 2 });
    }

    public SctpAssociation A { get; }
    public SctpAssociation B { get; }
    public VirtualLink AtoB { get; }
    public VirtualLink BtoA { get; }
    public TimeSpan Now { get; private set; } = TimeSpan.FromSeconds(1);
    public List<SctpEvent> EventsA { get; } = [];
    public List<SctpEvent> EventsB { get; } = [];
    public bool DrainB { get; set; } = true;
    public int MaxPacketSeen { get; private set; }
    public long PacketsAtoB { get; private set; }

    /// <summary>Called after each step's events are collected; may send more data.</summary>
    public Action<SctpTestPair>? OnStep { get; set; }

    public void Flush()
    {
        for (int guard = 0; guard < 10_000_000; guard++)
        {
            bool any = false;
            while (A.TryPollTransmit(_buffer, Now, out var nTx))
            {
                int n = nTx.Length;
                MaxPacketSeen = Math.Max(MaxPacketSeen, n);
                PacketsAtoB++;
                AtoB.Send(_buffer.AsSpan(0, n), Now);
                any = true;
            }
            while (B.TryPollTransmit(_buffer, Now, out var nTx))
            {
                int n = nTx.Length;
                MaxPacketSeen = Math.Max(MaxPacketSeen, n);
                BtoA.Send(_buffer.AsSpan(0, n), Now);
                any = true;
            }
            // One datagram per direction per round, then output again: like a driver that polls after every datagram.
            if (AtoB.TryReceive(Now, out var pa))
            {
                B.Receive(pa, Now);
                any = true;
            }
            if (BtoA.TryReceive(Now, out var pb))
            {
                A.Receive(pb, Now);
                any = true;
            }
            while (A.TryPollEvent(out var e))
            {
                EventsA.Add(e);
                any = true;
            }
            while (DrainB && B.TryPollEvent(out var e))
            {
                EventsB.Add(e);
                any = true;
            }
            if (OnStep is { } s)
            {
                s(this);
            }
            if (!any)
            {
                return;
            }
        }
        throw new InvalidOperationException("Flush did not settle");
    }

    /// <summary>Runs until <paramref name="condition"/> holds or virtual time / steps run out. Returns the condition.</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan? maxVirtual = null, int maxSteps = 2_000_000)
    {
        var deadline = Now + (maxVirtual ?? TimeSpan.FromSeconds(60));
        for (int step = 0; step < maxSteps; step++)
        {
            Flush();
            if (condition())
            {
                return true;
            }
            TimeSpan? next = null;
            foreach (var t in new[] { A.NextDeadline, B.NextDeadline, AtoB.NextDeliveryTime, BtoA.NextDeliveryTime })
            {
                if (t is { } v && (next is null || v < next))
                {
                    next = v;
                }
            }
            if (next is null || next.Value > deadline)
            {
                return condition();
            }
            if (next.Value > Now)
            {
                Now = next.Value;
            }
            if (A.NextDeadline is { } ta && ta <= Now)
            {
                A.HandleDeadline(Now);
            }
            if (B.NextDeadline is { } tb && tb <= Now)
            {
                B.HandleDeadline(Now);
            }
        }
        return condition();
    }

    public void ConnectBoth(TimeSpan? maxVirtual = null)
    {
        A.Connect(Now);
        B.Connect(Now);
        Assert.True(RunUntil(() => A.State == SctpState.Established && B.State == SctpState.Established, maxVirtual ?? TimeSpan.FromSeconds(30)),
            $"handshake did not complete: A={A.State} B={B.State}");
    }

    public void AdvanceTo(TimeSpan t)
    {
        if (t > Now)
        {
            Now = t;
        }
    }
}
