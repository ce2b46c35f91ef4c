using System.Buffers.Binary;
using System.Net;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc.Tests.Ice;

/// <summary>Two ICE agents on a virtual network in virtual time: per-direction VirtualLinks, blocked addresses, a cut switch.</summary>
internal sealed class IceNet
{
    private readonly List<(IPEndPoint From, IPEndPoint To)> _envelopes = [];
    private readonly VirtualLink _ab, _ba;
    public IceAgent A { get; }
    public IceAgent B { get; }
    public HashSet<IPEndPoint> Blocked { get; } = [];
    public bool Cut { get; set; }
    public TimeSpan Now { get; private set; }
    public int Delivered { get; private set; }

    public IceNet(IceAgent a, IceAgent b, VirtualLinkOptions? link = null)
    {
        A = a;
        B = b;
        _ab = new VirtualLink(link ?? new VirtualLinkOptions { Seed = 1 });
        _ba = new VirtualLink((link ?? new VirtualLinkOptions()) with { Seed = (link?.Seed ?? 1) + 100 });
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

    private void Drain(IceAgent from, VirtualLink link)
    {
        while (from.TryGetTransmit(out var t))
        {
            if (Cut || Blocked.Contains(t.Remote) || Blocked.Contains(t.Local)) continue;
            _envelopes.Add((t.Local, t.Remote));
            var buf = new byte[4 + t.Data.Length];
            BinaryPrimitives.WriteInt32BigEndian(buf, _envelopes.Count - 1);
            t.Data.CopyTo(buf, 4);
            link.Send(buf, Now);
        }
    }

    private void Deliver(VirtualLink link, IceAgent to)
    {
        while (link.TryReceive(Now, out var d))
        {
            var (from, dest) = _envelopes[BinaryPrimitives.ReadInt32BigEndian(d)];
            if (Cut) continue;
            Delivered++;
            to.ProcessDatagram(dest, from, d.AsSpan(4), Now);
        }
    }

    /// <summary>Runs until <paramref name="until"/> holds or <paramref name="max"/> virtual time passed; returns whether it held.</summary>
    public bool RunUntil(Func<bool> until, TimeSpan max)
    {
        var end = Now + max;
        int stuck = 0;
        var last = Now;
        for (int i = 0; i < 1_000_000; i++)
        {
            if (Now == last) { if (++stuck > 10_000) throw new InvalidOperationException($"virtual time stuck at {Now}: A {A.State} next {A.NextTimeout}, B {B.State} next {B.NextTimeout}"); }
            else { stuck = 0; last = Now; }
            Drain(A, _ab);
            Drain(B, _ba);
            Deliver(_ab, B);
            Deliver(_ba, A);
            Drain(A, _ab);
            Drain(B, _ba);
            if (until()) return true;
            var next = Min(A.NextTimeout, B.NextTimeout);
            if (_ab.NextDeliveryTime is { } x) next = Min(next, x);
            if (_ba.NextDeliveryTime is { } y) next = Min(next, y);
            if (next > end) { Now = end; A.HandleTimeout(Now); B.HandleTimeout(Now); return until(); }
            if (next > Now) Now = next;
            A.HandleTimeout(Now);
            B.HandleTimeout(Now);
        }
        throw new InvalidOperationException("iteration bound hit");
    }

    public void Run(TimeSpan duration) => RunUntil(() => false, duration);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
