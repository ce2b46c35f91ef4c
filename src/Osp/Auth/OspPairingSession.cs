using OspBridge.Osp.Agent;

namespace OspBridge.Osp.Auth;

/// <summary>
/// The minimal trust store the pairing session needs (implemented by the trust store of src/Osp/Trust; tests use
/// an in-memory one). Fingerprints are agent fingerprints (base64 SHA-256 of the SPKI).
/// </summary>
public interface IOspTrustStore
{
    /// <summary>Whether the peer was authenticated before and not revoked: reconnecting needs no PIN.</summary>
    bool IsTrusted(string fingerprint);

    /// <summary>Records a successful PIN pairing (trusts the peer) or a trusted reconnection (updates last seen).</summary>
    void RecordAuthenticated(string fingerprint, string? displayName, string? endpoint);

    /// <summary>Records a failed pairing attempt (never makes the peer trusted).</summary>
    void RecordAuthFailure(string fingerprint, string? displayName, string? endpoint);
}

/// <summary>How <see cref="OspPairingSession.EstablishAsync"/> ended.</summary>
/// <param name="Authentication">The PIN pairing result; null when the peer was already trusted.</param>
/// <param name="PeerFingerprint">The peer's agent fingerprint.</param>
/// <param name="WasTrusted">True when no PIN was needed.</param>
public sealed record OspPairingOutcome(OspAuthenticationResult? Authentication, string PeerFingerprint, bool WasTrusted)
{
    /// <summary>True when the connection is authenticated (trusted peer, or pairing succeeded).</summary>
    public bool IsAuthenticated => WasTrusted || Authentication?.IsAuthenticated == true;
}

/// <summary>
/// "Connect → if trusted skip the PIN, else pair → record the peer" in one call, for both sides of a fresh
/// <see cref="OspConnection"/>.
/// </summary>
/// <remarks>
/// Trust is decided locally on each side from its own store. Both sides are expected to agree (both trust each
/// other after a pairing). If only one side still trusts the other (e.g. one revoked), the untrusting side
/// starts PIN pairing, the trusting side does not answer, and the untrusting side fails with a timeout after
/// <see cref="OspAuthenticationOptions.StepTimeout"/>. The spec has no message to say "I trust you already".
/// Revoke on both sides, or pair again after revoking, to recover.
/// </remarks>
public static class OspPairingSession
{
    /// <summary>Authenticates <paramref name="connection"/> from the trust store, or with PIN pairing, and records the outcome.</summary>
    /// <param name="connection">A fresh connection.</param>
    /// <param name="options">Our side (see <see cref="OspAuthentication.AuthenticateAsync"/>).</param>
    /// <param name="host">PIN display and prompt.</param>
    /// <param name="trust">The trust store.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    public static async Task<OspPairingOutcome> EstablishAsync(OspConnection connection, OspAuthenticationOptions options,
        IOspPairingHost host, IOspTrustStore trust, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(trust);
        string fingerprint = connection.RemoteFingerprint;
        string endpoint = connection.RemoteEndPoint.ToString();
        if (trust.IsTrusted(fingerprint))
        {
            // Mutual TLS already proved the peer holds the key of this fingerprint.
            connection.MarkAuthenticated();
            trust.RecordAuthenticated(fingerprint, options.PeerDisplayName, endpoint);
            return new OspPairingOutcome(null, fingerprint, WasTrusted: true);
        }

        var result = await OspAuthentication.AuthenticateAsync(connection, options, host, cancellationToken).ConfigureAwait(false);
        if (result.IsAuthenticated)
        {
            trust.RecordAuthenticated(fingerprint, options.PeerDisplayName, endpoint);
        }
        else if (result.Failure != OspAuthFailure.RateLimited)
        {
            trust.RecordAuthFailure(fingerprint, options.PeerDisplayName, endpoint);
        }

        return new OspPairingOutcome(result, fingerprint, WasTrusted: false);
    }
}
