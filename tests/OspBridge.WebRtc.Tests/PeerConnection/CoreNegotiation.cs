using System.Net;
using OspBridge.Testing.Virtual;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// What the sans-IO peer-connection tests share: two seeded <see cref="PeerConnectionCore"/>s, A on
/// <see cref="EpA"/> and B on <see cref="EpB"/>, and the offer/answer with one host candidate each and gathering
/// complete (no signaling server: the descriptions are handed over directly).
/// </summary>
internal static class CoreNegotiation
{
    /// <summary>A's host candidate.</summary>
    public static readonly IPEndPoint EpA = IPEndPoint.Parse("10.0.0.1:5000");

    /// <summary>B's host candidate.</summary>
    public static readonly IPEndPoint EpB = IPEndPoint.Parse("10.0.0.2:6000");

    /// <summary>A core whose randomness is seeded with <paramref name="seed"/>.</summary>
    public static PeerConnectionCore NewCore(ulong seed) =>
        new(new PeerConnectionCoreOptions { Random = new SeededRandomNumberGenerator(seed) });

    /// <summary>A creates and sets its offer, adds its host candidate and completes gathering.</summary>
    public static void Offer(PeerConnectionCore a, TimeSpan now)
    {
        a.SetLocalDescription(a.CreateOffer(), now);
        a.AddLocalCandidate(EpA);
        a.CompleteGathering();
    }

    /// <summary>
    /// B takes A's offer, runs <paramref name="beforeAnswer"/> (directions, codec preferences), answers with its host
    /// candidate and gathering complete, and A takes the answer.
    /// </summary>
    public static void Answer(PeerConnectionCore a, PeerConnectionCore b, TimeSpan now, Action? beforeAnswer = null)
    {
        b.SetRemoteDescription(a.LocalDescription!, now);
        beforeAnswer?.Invoke();
        b.SetLocalDescription(b.CreateAnswer(), now);
        b.AddLocalCandidate(EpB);
        b.CompleteGathering();
        a.SetRemoteDescription(b.LocalDescription!, now);
    }

    /// <summary>Runs the network until both cores are connected with SRTP keys (at most 30 s of virtual time).</summary>
    public static bool RunUntilMediaConnected(VirtualNetwork net, PeerConnectionCore a, PeerConnectionCore b) =>
        net.RunUntil(() => a.SrtpProfile is not null && b.SrtpProfile is not null
            && a.ConnectionState == RTCPeerConnectionState.Connected && b.ConnectionState == RTCPeerConnectionState.Connected, TimeSpan.FromSeconds(30));
}

/// <summary>Two cores on one virtual network and the nodes they sit on (tests derive their own pair state from it).</summary>
internal class CorePair
{
    public required VirtualNetwork Net;
    public required PeerConnectionCore A;
    public required PeerConnectionCore B;
    public required VirtualNode NodeA;
    public required VirtualNode NodeB;
}
