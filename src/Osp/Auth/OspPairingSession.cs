using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;

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

/// <summary>How <see cref="OspPairingSession.EstablishAsync(OspConnection, OspAuthenticationOptions, IOspPairingHost, IOspTrustStore, OspPairingPolicy?, CancellationToken)"/> ended.</summary>
public enum OspPairingStatus
{
    /// <summary>The peer was in our trust store: authenticated without a PIN.</summary>
    Trusted,

    /// <summary>PIN pairing succeeded: the peer is now trusted.</summary>
    Paired,

    /// <summary>PIN pairing failed (wrong PIN, timeout, back-off, ...): see <see cref="OspPairingOutcome.Authentication"/>. The connection is closed.</summary>
    Failed,

    /// <summary>The peer is not trusted and the policy does not pair (<see cref="OspPairingPolicy.AllowPairing"/> false). The connection is closed.</summary>
    NotPaired,

    /// <summary>The host refused an untrusted peer before any PIN (<see cref="OspPairingPolicy.AdmitUntrustedAsync"/>). The connection is closed.</summary>
    Refused,
}

/// <summary>How <see cref="OspPairingSession.EstablishAsync(OspConnection, OspAuthenticationOptions, IOspPairingHost, IOspTrustStore, OspPairingPolicy?, CancellationToken)"/> ended.</summary>
/// <param name="Authentication">The PIN pairing result; null when no PIN pairing ran.</param>
/// <param name="PeerFingerprint">The peer's agent fingerprint.</param>
/// <param name="WasTrusted">True when no PIN was needed.</param>
public sealed record OspPairingOutcome(OspAuthenticationResult? Authentication, string PeerFingerprint, bool WasTrusted)
{
    /// <summary>True when the connection is authenticated (trusted peer, or pairing succeeded).</summary>
    public bool IsAuthenticated => WasTrusted || Authentication?.IsAuthenticated == true;

    /// <summary>How it ended.</summary>
    public OspPairingStatus Status { get; init; } = WasTrusted ? OspPairingStatus.Trusted
        : Authentication?.IsAuthenticated == true ? OspPairingStatus.Paired : OspPairingStatus.Failed;
}

/// <summary>What a host decides around <see cref="OspPairingSession"/>: consent, forced re-pairing, whether to pair at all.</summary>
public sealed class OspPairingPolicy
{
    /// <summary>
    /// Asked before an untrusted peer may start PIN pairing (the consent prompt, with the suspicious-agent warnings);
    /// false refuses (<see cref="OspPairingStatus.Refused"/>). Null admits every peer to the PIN (the PIN still decides).
    /// </summary>
    public Func<OspConnection, CancellationToken, ValueTask<bool>>? AdmitUntrustedAsync { get; init; }

    /// <summary>
    /// Pair with a PIN even when the peer is in our trust store: an explicit re-pairing (<c>ospbridge pair</c>), e.g.
    /// after the peer revoked us. Default false.
    /// </summary>
    public bool AlwaysPair { get; init; }

    /// <summary>False: failed pairing attempts are not recorded in the trust store (a client that only counts its own mistakes). Default true.</summary>
    public bool RecordFailures { get; init; } = true;

    /// <summary>False: an untrusted peer is not paired (the connection is closed, <see cref="OspPairingStatus.NotPaired"/>). Default true.</summary>
    public bool AllowPairing { get; init; } = true;

    /// <summary>
    /// Advertiser only: a peer we admitted from our trust store asked for PIN pairing on the same connection (it
    /// revoked us and is pairing again). The pairing runs in the background with the same host and options; this
    /// reports how it ended (after the trust store was updated). Null: not reported.
    /// </summary>
    public Action<OspConnection, OspAuthenticationResult>? RepairEnded { get; init; }
}

/// <summary>
/// "Connect → if trusted skip the PIN, else pair → record the peer" in one call, for both sides of a fresh
/// <see cref="OspConnection"/>.
/// </summary>
/// <remarks>
/// <para>Trust is decided locally on each side from its own store. The spec has no message that says "I trust you
/// already", but the side that does not trust the other always starts authentication with auth-capabilities (the
/// advertiser too), so a mismatch shows at once on the side that still trusts:</para>
/// <list type="bullet">
/// <item>a <b>listener</b> that admitted the advertiser from its store and then receives auth-capabilities closes the
/// connection at once (401): every operation fails with <see cref="OspError.NotTrustedByPeer"/> ("pair with it again"),
/// instead of waiting for a timeout;</item>
/// <item>an <b>advertiser</b> that admitted the listener from its store and then receives auth-capabilities joins the
/// PIN pairing on that connection (the listener revoked us and is pairing again): success refreshes the record,
/// failure closes the connection (<see cref="OspPairingPolicy.RepairEnded"/>).</item>
/// </list>
/// </remarks>
public static class OspPairingSession
{
    /// <summary>Authenticates <paramref name="connection"/> from the trust store, or with PIN pairing, and records the outcome.</summary>
    /// <param name="connection">A fresh connection.</param>
    /// <param name="options">Our side (see <see cref="OspAuthentication.AuthenticateAsync(OspConnection, OspAuthenticationOptions, IOspPairingHost, CancellationToken)"/>).</param>
    /// <param name="host">PIN display and prompt.</param>
    /// <param name="trust">The trust store.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    public static Task<OspPairingOutcome> EstablishAsync(OspConnection connection, OspAuthenticationOptions options,
        IOspPairingHost host, IOspTrustStore trust, CancellationToken cancellationToken = default) =>
        EstablishAsync(connection, options, host, trust, policy: null, cancellationToken);

    /// <summary>As the other overload, with the host's <paramref name="policy"/> (consent, forced re-pairing, no pairing).</summary>
    /// <param name="connection">A fresh connection.</param>
    /// <param name="options">Our side.</param>
    /// <param name="host">PIN display and prompt.</param>
    /// <param name="trust">The trust store.</param>
    /// <param name="policy">Consent and pairing choices (null: the defaults).</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    public static async Task<OspPairingOutcome> EstablishAsync(OspConnection connection, OspAuthenticationOptions options,
        IOspPairingHost host, IOspTrustStore trust, OspPairingPolicy? policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(trust);
        policy ??= new OspPairingPolicy();
        string fingerprint = connection.RemoteFingerprint;
        string endpoint = connection.RemoteEndPoint.ToString();
        if (!policy.AlwaysPair && trust.IsTrusted(fingerprint))
        {
            // Mutual TLS already proved the peer holds the key of this fingerprint.
            WatchForDistrust(connection, options, host, trust, policy);
            connection.MarkAuthenticated();
            trust.RecordAuthenticated(fingerprint, options.PeerDisplayName, endpoint);
            return new OspPairingOutcome(null, fingerprint, WasTrusted: true);
        }

        if (!policy.AllowPairing)
        {
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
            return new OspPairingOutcome(null, fingerprint, WasTrusted: false) { Status = OspPairingStatus.NotPaired };
        }

        if (policy.AdmitUntrustedAsync is { } admit && !trust.IsTrusted(fingerprint)
            && !await admit(connection, cancellationToken).ConfigureAwait(false))
        {
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
            return new OspPairingOutcome(null, fingerprint, WasTrusted: false) { Status = OspPairingStatus.Refused };
        }

        var result = await OspAuthentication.AuthenticateAsync(connection, options, host, cancellationToken).ConfigureAwait(false);
        Record(trust, result, fingerprint, options.PeerDisplayName, endpoint, policy.RecordFailures);
        return new OspPairingOutcome(result, fingerprint, WasTrusted: false);
    }

    private static void Record(IOspTrustStore trust, OspAuthenticationResult result, string fingerprint, string? name, string endpoint, bool recordFailures)
    {
        if (result.IsAuthenticated)
        {
            trust.RecordAuthenticated(fingerprint, name, endpoint);
        }
        else if (recordFailures && result.Failure != OspAuthFailure.RateLimited)
        {
            trust.RecordAuthFailure(fingerprint, name, endpoint);
        }
    }

    /// <summary>
    /// On a connection admitted from the trust store: the peer's auth-capabilities means it does not trust us. A
    /// listener fails fast; an advertiser joins the PIN pairing the listener started.
    /// </summary>
    private static void WatchForDistrust(OspConnection connection, OspAuthenticationOptions options, IOspPairingHost host, IOspTrustStore trust, OspPairingPolicy policy)
    {
        IDisposable? subscription = null;
        int fired = 0;
        void OnCapabilities(AuthCapabilities caps)
        {
            if (Interlocked.Exchange(ref fired, 1) != 0) return;
            subscription?.Dispose();
            if (!options.IsAdvertiser)
            {
                connection.FailNotTrustedByPeer();
                return;
            }

            _ = Task.Run(() => RepairAsync(connection, options, host, trust, policy, caps));
        }

        subscription = connection.Subscribe<AuthCapabilities>(OnCapabilities);
        _ = connection.Closed.ContinueWith(_ => subscription.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static async Task RepairAsync(OspConnection connection, OspAuthenticationOptions options, IOspPairingHost host, IOspTrustStore trust, OspPairingPolicy policy, AuthCapabilities first)
    {
        try
        {
            var result = await OspAuthentication.AuthenticateAfterAsync(connection, options, host, first, CancellationToken.None).ConfigureAwait(false);
            Record(trust, result, connection.RemoteFingerprint, options.PeerDisplayName, connection.RemoteEndPoint.ToString(), policy.RecordFailures);
            policy.RepairEnded?.Invoke(connection, result);
        }
        catch (Exception ex) when (ex is OspException or InvalidOperationException or ObjectDisposedException)
        {
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
        }
    }

    private static async ValueTask CloseQuietlyAsync(OspConnection connection)
    {
        try
        {
            await connection.CloseAsync(OspConnection.NotAuthenticatedErrorCode).ConfigureAwait(false);
        }
        catch (OspException)
        {
        }
    }
}
