using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Pairing;

/// <summary>How an authentication attempt ended.</summary>
internal enum PairingOutcome
{
    /// <summary>The peer is authenticated (newly paired, or already trusted).</summary>
    Authenticated,

    /// <summary>Key confirmation failed (wrong PIN) or the peer aborted.</summary>
    Failed,

    /// <summary>The peer is not trusted and this command does not pair (chat, send).</summary>
    NotPaired,

    /// <summary>Refused before the PIN: no consent, or the back-off is in force.</summary>
    Refused,
}

/// <summary>Result of authenticating one connection.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Peer">The authenticated peer as now stored in the trust store.</param>
/// <param name="NewlyPaired">True when a PIN was used and the peer was added to the trust store just now.</param>
/// <param name="Message">Details for logs.</param>
internal sealed record PairingResult(PairingOutcome Outcome, TrustedPeerView? Peer, bool NewlyPaired, string? Message);

/// <summary>
/// The CLI's pairing policy over src/Osp/Auth and src/Osp/Trust, used as the LP2P authentication hook on both sides:
/// a trusted peer is admitted without a PIN (its TLS certificate proved the key of the trusted fingerprint); an
/// unknown one pairs with SPAKE2 — the agent presents (psk-ease-of-input 0), the client consumes (100).
/// </summary>
internal static class OspPairing
{
    /// <summary>Entropy of the PINs the agent presents (10 digits, grouped 4-4-4 with padding).</summary>
    public const int AgentPskBits = 30;

    private static readonly TimeSpan AgentInfoTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Agent options for the CLI: our identity and display name (with a neutral one for unauthenticated peers when private); only authenticated peers reach applications.</summary>
    public static OspAgentOptions AgentOptions(AgentIdentity identity, string displayName, ILogger logger, string? displayNameBeforeAuthentication = null,
        TimeSpan keepAliveInterval = default) => new()
    {
        KeepAliveInterval = keepAliveInterval,
        Identity = identity,
        DisplayName = displayName,
        DisplayNameBeforeAuthentication = displayNameBeforeAuthentication,
        RequireAuthentication = true,
        Capabilities = [AgentCapability.LanSignaling, AgentCapability.DataChannels],
        Logger = logger,
    };

    /// <summary>
    /// Advertiser side: authenticates an accepted connection through <see cref="OspPairingSession"/> — no PIN for a
    /// trusted peer; a new one gets the suspicious-agent warnings (stderr), is refused and flagged when it claims a
    /// trusted peer's name with another key, else asks for consent, then pairs with the PIN we present. A trusted
    /// peer that asks for PIN pairing (it revoked us) is re-paired on the same connection (<paramref name="repairEnded"/>).
    /// </summary>
    public static async Task<PairingResult> AuthenticateIncomingAsync(OspConnection connection, AgentIdentity identity, OspTrustStore trust,
        IOspPairingHost host, ConsoleConsentHost consent, AuthAttemptLimiter limiter, ILogger logger, CancellationToken cancellationToken,
        Action<OspConnection, OspAuthenticationResult>? repairEnded = null)
    {
        string fp = connection.RemoteFingerprint;
        string? name = await TryGetNameAsync(connection, cancellationToken).ConfigureAwait(false);
        var options = new OspAuthenticationOptions
        {
            Identity = identity,
            IsAdvertiser = true,
            Capabilities = new AuthCapabilities
            {
                PskEaseOfInput = 0,
                PskInputMethods = [PskInputMethod.Numeric, PskInputMethod.QrCode],
                PskMinBitsOfEntropy = AgentPskBits,
            },
            Limiter = limiter,
            PeerDisplayName = name,
            Logger = logger,
        };
        var policy = new OspPairingPolicy
        {
            AdmitUntrustedAsync = async (c, ct) =>
            {
                var observed = new OspPeerObservation(fp, name ?? "", name ?? "", [c.RemoteEndPoint]);
                trust.Reload();
                consent.Warn(OspSuspicionRules.Evaluate(trust.Peers, observed));
                return await OspConsent.AdmitAsync(trust, consent, observed, null, ct).ConfigureAwait(false);
            },
            RepairEnded = repairEnded,
        };
        var outcome = await OspPairingSession.EstablishAsync(connection, options, host, trust, policy, cancellationToken).ConfigureAwait(false);
        return ToResult(outcome, trust, "no consent for a new peer (run the agent with --accept-all or answer y), or it claims a trusted peer's name with another key");
    }

    /// <summary>
    /// Listener side: authenticates a connection to an advertised agent whose TXT <c>at</c> is <paramref name="authToken"/>
    /// through <see cref="OspPairingSession"/>: no PIN for a trusted peer (unless <paramref name="forcePin"/>: <c>pair</c>
    /// always pairs), else PIN pairing through <paramref name="host"/> (null: <see cref="PairingOutcome.NotPaired"/>).
    /// A failed attempt leaves our trust store's trusted records unchanged. When the agent no longer trusts us, the
    /// connection fails fast with <see cref="OspError.NotTrustedByPeer"/>.
    /// </summary>
    public static async Task<PairingResult> AuthenticateOutgoingAsync(OspConnection connection, AgentIdentity identity, string authToken, string? peerName,
        OspTrustStore trust, IOspPairingHost? host, bool forcePin, ILogger logger, CancellationToken cancellationToken)
    {
        var options = new OspAuthenticationOptions
        {
            Identity = identity,
            IsAdvertiser = false,
            AuthToken = authToken,
            Capabilities = new AuthCapabilities
            {
                PskEaseOfInput = 100,
                PskInputMethods = [PskInputMethod.Numeric],
                PskMinBitsOfEntropy = OspPsk.MinEntropyBits,
            },
            PeerDisplayName = peerName,
            Logger = logger,
        };
        // A failed attempt is not written on the client (docs/cli.md: a wrong PIN leaves its trust store unchanged).
        var policy = new OspPairingPolicy { AllowPairing = host is not null, AlwaysPair = forcePin && host is not null, RecordFailures = false };
        var outcome = await OspPairingSession.EstablishAsync(connection, options, host ?? NoPinHost.Instance, trust, policy, cancellationToken).ConfigureAwait(false);
        return ToResult(outcome, trust, null);
    }

    private static PairingResult ToResult(OspPairingOutcome outcome, OspTrustStore trust, string? refusal)
    {
        var auth = outcome.Authentication;
        return outcome.Status switch
        {
            OspPairingStatus.Trusted => new(PairingOutcome.Authenticated, trust.FindTrusted(outcome.PeerFingerprint), false, null),
            OspPairingStatus.Paired => new(PairingOutcome.Authenticated, trust.FindTrusted(outcome.PeerFingerprint), true, null),
            OspPairingStatus.NotPaired => new(PairingOutcome.NotPaired, null, false, null),
            OspPairingStatus.Refused => new(PairingOutcome.Refused, null, false, refusal),
            _ when auth?.Failure == OspAuthFailure.PeerRefused => new(PairingOutcome.Refused, null, false, auth.Message),
            _ => new(auth?.Failure == OspAuthFailure.RateLimited ? PairingOutcome.Refused : PairingOutcome.Failed, null, false, $"{auth?.Failure}: {auth?.Message}"),
        };
    }

    /// <summary>The host of a command that never pairs (chat, send, fetch): never shows nor reads a PIN.</summary>
    private sealed class NoPinHost : IOspPairingHost
    {
        public static readonly NoPinHost Instance = new();

        public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);

        public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    private static async Task<string?> TryGetNameAsync(OspConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            var info = await connection.RequestAgentInfoAsync(AgentInfoTimeout, cancellationToken).ConfigureAwait(false);
            return info.DisplayName;
        }
        catch (OspException)
        {
            return null;
        }
    }
}
