using OspBridge.Osp.Agent;

namespace OspBridge.Osp.Lp2p;

/// <summary>What an application asks the user (or a policy) to allow: one peer, for one LP2P receiver or request.</summary>
/// <param name="Nickname">The receiver's or request's nickname (LP2P <c>nickname</c>), if any.</param>
/// <param name="PeerFingerprint">The peer's agent fingerprint (authenticated when authentication is required).</param>
/// <param name="PeerDisplayName">The peer's agent-info display name, when known.</param>
/// <param name="Incoming">True when the peer connected to our receiver; false for our request.</param>
public sealed record LP2PGrantRequest(string? Nickname, string PeerFingerprint, string? PeerDisplayName, bool Incoming);

/// <summary>
/// Consent and per-application grants (WICG LP2P "peer grant state"): decides whether an authenticated peer may be
/// handed to the application. The trust layer (trust store + consent UI) implements it; the default allows every peer.
/// </summary>
public interface ILP2PGrantPolicy
{
    /// <summary>True to hand the peer to the application; false refuses (the connection is closed).</summary>
    ValueTask<bool> RequestGrantAsync(LP2PGrantRequest request, CancellationToken cancellationToken);
}

/// <summary>Grant policies that need no user.</summary>
public static class LP2PGrantPolicies
{
    /// <summary>Allows every peer (the default; use it only where the network or authentication already decides).</summary>
    public static ILP2PGrantPolicy AllowAll { get; } = new Fixed(true);

    /// <summary>Refuses every peer.</summary>
    public static ILP2PGrantPolicy DenyAll { get; } = new Fixed(false);

    private sealed class Fixed(bool allow) : ILP2PGrantPolicy
    {
        public ValueTask<bool> RequestGrantAsync(LP2PGrantRequest request, CancellationToken cancellationToken) => ValueTask.FromResult(allow);
    }
}

/// <summary>
/// Authenticates a fresh OSP connection (PIN pairing with SPAKE2, or a trust-store lookup for a known peer). It runs
/// before the connection reaches the application; it must either leave the connection authenticated (the
/// authentication layer marks it) or throw. With <see cref="OspAgentOptions.RequireAuthentication"/> off it may do nothing.
/// </summary>
/// <param name="connection">The connection (client side when it was opened by an <see cref="LP2PRequest"/>).</param>
/// <param name="cancellationToken">Gives up.</param>
public delegate Task LP2PAuthenticationHandler(OspConnection connection, CancellationToken cancellationToken);
