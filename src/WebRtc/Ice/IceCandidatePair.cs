using System.Net;

namespace OspBridge.WebRtc.Ice;

/// <summary>A local candidate as the agent keeps it: what is signalled plus the socket address it is sent from.</summary>
/// <param name="Candidate">The candidate as signalled (its Address may be an mDNS name).</param>
/// <param name="Base">The local socket address (RFC 8445 "base").</param>
public sealed record IceLocalCandidate(IceCandidate Candidate, IPEndPoint Base);

/// <summary>A candidate pair of the checklist (RFC 8445 §6.1.2).</summary>
public sealed class IceCandidatePair
{
    internal IceCandidatePair(IceLocalCandidate local, IceCandidate remote, IPEndPoint remoteEndPoint)
    {
        Local = local;
        Remote = remote;
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The local candidate.</summary>
    public IceLocalCandidate Local { get; }
    /// <summary>The remote candidate.</summary>
    public IceCandidate Remote { get; internal set; }
    /// <summary>The remote transport address.</summary>
    public IPEndPoint RemoteEndPoint { get; }
    /// <summary>Checklist state.</summary>
    public IceCandidatePairState State { get; internal set; }
    /// <summary>Pair priority (RFC 8445 §6.1.2.3), recomputed on role change.</summary>
    public ulong Priority { get; internal set; }
    /// <summary>True once nominated (USE-CANDIDATE check succeeded / received on a valid pair).</summary>
    public bool Nominated { get; internal set; }
    /// <summary>Pair foundation (local + remote foundations).</summary>
    public string Foundation => Local.Candidate.Foundation + ":" + Remote.Foundation;
    /// <summary>Round-trip time of the last successful check.</summary>
    public TimeSpan? RoundTripTime { get; internal set; }

    internal bool UseCandidateReceived;
    internal bool NominateOnSuccess;
    internal bool Triggered;
    internal bool AuthenticatedRequestSeen;

    /// <summary>RFC 8445 §6.1.2.3: 2^32·MIN(G,D) + 2·MAX(G,D) + (G&gt;D ? 1 : 0), G = controlling side's candidate priority.</summary>
    internal static ulong ComputePriority(uint controlling, uint controlled) =>
        ((ulong)Math.Min(controlling, controlled) << 32) + 2UL * Math.Max(controlling, controlled) + (controlling > controlled ? 1UL : 0UL);

    /// <summary>For logs.</summary>
    public override string ToString() => $"{Local.Base} -> {RemoteEndPoint} ({State}{(Nominated ? ", nominated" : "")})";
}
