namespace OspBridge.Osp.Trust;

/// <summary>A new peer asks to connect (or to pair): what the host shows the user.</summary>
/// <param name="Fingerprint">The peer's agent fingerprint.</param>
/// <param name="Id">The peer's id (<see cref="OspPeerId"/>).</param>
/// <param name="DisplayName">The name it claims (unverified before authentication; sanitise before printing).</param>
/// <param name="Warnings">Suspicious-agent warnings for it (<see cref="OspSuspicionRules"/>); show them.</param>
public sealed record OspConsentRequest(string Fingerprint, string Id, string? DisplayName, IReadOnlyList<OspSuspicion> Warnings);

/// <summary>An application asks to use a peer (the LP2P per-origin grant prompt).</summary>
/// <param name="App">The application (origin or local app name).</param>
/// <param name="Fingerprint">The peer's fingerprint.</param>
/// <param name="Id">The peer's id.</param>
/// <param name="DisplayName">The peer's name.</param>
public sealed record OspGrantRequest(string App, string Fingerprint, string Id, string? DisplayName);

/// <summary>
/// The user's side of trust, implemented by the host (the CLI's console prompts now, the bridge's web UI later).
/// The agent asks before a new (untrusted) peer may start pairing, and before an application is given a peer;
/// applications see no addresses and no discovery list before the user consented (LP2P §"user agent in control").
/// PIN entry/display is the authentication code's interface, not this one.
/// </summary>
public interface IOspConsentHost
{
    /// <summary>A new peer wants to connect/pair: true to allow (then the PIN decides), false to refuse.</summary>
    ValueTask<bool> ConfirmNewPeerAsync(OspConsentRequest request, CancellationToken cancellationToken);

    /// <summary>An application wants to use a trusted peer: true to grant (recorded in the store, revocable).</summary>
    ValueTask<bool> ConfirmAppGrantAsync(OspGrantRequest request, CancellationToken cancellationToken);
}

/// <summary>Consent flows over an <see cref="OspTrustStore"/> and an <see cref="IOspConsentHost"/>.</summary>
public static class OspConsent
{
    /// <summary>
    /// True when <paramref name="app"/> may use the trusted peer <paramref name="fingerprint"/>: an existing grant,
    /// or the host's yes (then recorded). An untrusted peer is never granted (false, and the host is not asked).
    /// </summary>
    public static async ValueTask<bool> EnsureGrantAsync(OspTrustStore store, IOspConsentHost host, string fingerprint, string app, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(host);
        var peer = store.Find(fingerprint);
        if (peer is not { Trusted: true }) return false;
        if (peer.Grants.Any(g => g.App == app)) return true;
        if (!await host.ConfirmAppGrantAsync(new OspGrantRequest(app, fingerprint, peer.Id, peer.Name), cancellationToken).ConfigureAwait(false))
            return false;
        store.Grant(fingerprint, app);
        return true;
    }

    /// <summary>
    /// True when an incoming peer may proceed: a trusted peer always may (no prompt); an untrusted one only after
    /// the host's yes, with the suspicious-agent warnings attached to the question. An untrusted peer that claims a
    /// trusted peer's name (<see cref="OspSuspicionKind.TrustedNameWithNewFingerprint"/>) is refused without asking
    /// and flagged (<see cref="OspTrustStore.RecordSuspicious"/>): it is never treated as, nor merged into, that peer.
    /// To replace a trusted peer's key, revoke it first.
    /// </summary>
    public static async ValueTask<bool> AdmitAsync(OspTrustStore store, IOspConsentHost host, OspPeerObservation observed, IReadOnlyCollection<OspPeerObservation>? current, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(observed);
        store.Reload();
        if (store.Peers.Any(p => p.Trusted && p.Fingerprint == observed.Fingerprint)) return true;
        var warnings = OspSuspicionRules.Evaluate(store.Peers, observed, current);
        if (warnings.Any(w => w.Kind == OspSuspicionKind.TrustedNameWithNewFingerprint))
        {
            store.RecordSuspicious(observed.Fingerprint, observed.DisplayName, (observed.Endpoints.Count > 0 ? observed.Endpoints[0].ToString() : null));
            return false;
        }

        return await host.ConfirmNewPeerAsync(new OspConsentRequest(observed.Fingerprint, OspPeerId.FromFingerprint(observed.Fingerprint), observed.DisplayName, warnings), cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// The LP2P grant policy of the trust store (<see cref="Lp2p.ILP2PGrantPolicy"/>): the application is the LP2P
/// receiver's or request's nickname (or <paramref name="defaultApp"/>); an existing grant passes, otherwise the host is
/// asked once and a yes is recorded (<see cref="OspConsent.EnsureGrantAsync"/>). Untrusted peers are never granted.
/// Grants are listed on the peer's record and revoked with <see cref="OspTrustStore.RevokeGrant"/>.
/// </summary>
/// <param name="store">The trust store.</param>
/// <param name="host">Asks the user.</param>
/// <param name="defaultApp">The application when the request has no nickname.</param>
public sealed class OspTrustGrantPolicy(OspTrustStore store, IOspConsentHost host, string defaultApp) : Lp2p.ILP2PGrantPolicy
{
    /// <inheritdoc/>
    public ValueTask<bool> RequestGrantAsync(Lp2p.LP2PGrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return OspConsent.EnsureGrantAsync(store, host, request.PeerFingerprint, string.IsNullOrEmpty(request.Nickname) ? defaultApp : request.Nickname, cancellationToken);
    }
}
