using OspBridge.Net.Simulation;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.DataChannels;

/// <summary>Two data-channel endpoints (A = DTLS client, B = DTLS server) over virtual links in virtual time.</summary>
internal sealed class DataChannelTestPair
{
    private readonly byte[] _buffer = new byte[65_536];

    public DataChannelTestPair(VirtualLinkOptions? aToB = null, VirtualLinkOptions? bToA = null, int maxMessage = 262_144)
    {
        A = new DataChannelEndpoint(new SctpOptions { IsDtlsClient = true, MaxMessageSize = maxMessage, RemoteMaxMessageSize = maxMessage });
        B = new DataChannelEndpoint(new SctpOptions { IsDtlsClient = false, MaxMessageSize = maxMessage, RemoteMaxMessageSize = maxMessage });
        AtoB = new VirtualLink(aToB ?? new VirtualLinkOptions());
        BtoA = new VirtualLink(bToA ?? new VirtualLinkOptions { Seed = 2 });
    }

    public DataChannelEndpoint A { get; }
    public DataChannelEndpoint B { get; }
    public VirtualLink AtoB { get; }
    public VirtualLink BtoA { get; }
    public TimeSpan Now { get; private set; } = TimeSpan.FromSeconds(1);
    public List<DataChannelEvent> EventsA { get; } = [];
    public List<DataChannelEvent> EventsB { get; } = [];
    public Action<DataChannelTestPair>? OnStep { get; set; }

    public void Flush()
    {
        for (int guard = 0; guard < 10_000_000; guard++)
        {
            bool any = false;
            while (A.TryPollTransmit(_buffer, Now, out var nTx))
            {
                int n = nTx.Length;
                AtoB.Send(_buffer.AsSpan(0, n), Now);
                any = true;
            }
            while (B.TryPollTransmit(_buffer, Now, out var nTx))
            {
                int n = nTx.Length;
                BtoA.Send(_buffer.AsSpan(0, n), Now);
                any = true;
            }
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
            while (B.TryPollEvent(out var e))
            {
                EventsB.Add(e);
                any = true;
            }
            OnStep?.Invoke(this);
            if (!any)
            {
                return;
            }
        }
        throw new InvalidOperationException("Flush did not settle");
    }

    public bool RunUntil(Func<bool> condition, TimeSpan? maxVirtual = null)
    {
        var deadline = Now + (maxVirtual ?? TimeSpan.FromSeconds(60));
        for (int step = 0; step < 2_000_000; step++)
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

    public void Connect()
    {
        A.Connect(Now);
        B.Connect(Now);
        Assert.True(RunUntil(() => A.IsConnected && B.IsConnected));
    }
}
