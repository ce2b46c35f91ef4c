using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;

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

    /// <summary>Agent options for the CLI: our identity and display name; only authenticated peers reach applications.</summary>
    public static OspAgentOptions AgentOptions(AgentIdentity identity, string displayName, ILogger logger) => new()
    {
        Identity = identity,
        DisplayName = displayName,
        RequireAuthentication = true,
        Capabilities = [AgentCapability.LanSignaling, AgentCapability.DataChannels],
        Logger = logger,
    };

    /// <summary>Advertiser side: authenticates an accepted connection (no PIN for a trusted peer; else consent, then we present a PIN).</summary>
    public static async Task<PairingResult> AuthenticateIncomingAsync(OspConnection connection, AgentIdentity identity, PeerTrust trust,
        IOspPairingHost host, Func<string?, string, string, CancellationToken, Task<bool>> consent, AuthAttemptLimiter limiter, ILogger logger,
        CancellationToken cancellationToken)
    {
        string fp = connection.RemoteFingerprint;
        string endpoint = connection.RemoteEndPoint.ToString();
        string? name = await TryGetNameAsync(connection, cancellationToken).ConfigureAwait(false);
        if (trust.FindTrusted(fp) is not null)
        {
            connection.MarkAuthenticated();
            return new(PairingOutcome.Authenticated, trust.RecordSeen(fp, name, endpoint), false, null);
        }

        if (!await consent(name, PeerTrust.IdOf(fp), fp, cancellationToken).ConfigureAwait(false))
        {
            await CloseAsync(connection).ConfigureAwait(false);
            return new(PairingOutcome.Refused, null, false, "no consent for a new peer (run the agent with --accept-all or answer y)");
        }

        var result = await OspAuthentication.AuthenticateAsync(connection, new OspAuthenticationOptions
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
        }, host, cancellationToken).ConfigureAwait(false);
        if (!result.IsAuthenticated)
        {
            if (result.Failure != OspAuthFailure.RateLimited) trust.RecordAuthFailure(fp, name, endpoint);
            return new(result.Failure == OspAuthFailure.RateLimited ? PairingOutcome.Refused : PairingOutcome.Failed, null, false, $"{result.Failure}: {result.Message}");
        }

        return new(PairingOutcome.Authenticated, trust.RecordAuthenticated(fp, name, endpoint), true, null);
    }

    /// <summary>
    /// Listener side: authenticates a connection to an advertised agent whose TXT <c>at</c> is <paramref name="authToken"/>;
    /// no PIN for a trusted peer, else PIN pairing through <paramref name="host"/> (null: <see cref="PairingOutcome.NotPaired"/>).
    /// A failed attempt leaves our trust store unchanged.
    /// </summary>
    public static async Task<PairingResult> AuthenticateOutgoingAsync(OspConnection connection, AgentIdentity identity, string authToken, string peerName,
        PeerTrust trust, IOspPairingHost? host, ILogger logger, CancellationToken cancellationToken)
    {
        string fp = connection.RemoteFingerprint;
        string endpoint = connection.RemoteEndPoint.ToString();
        if (trust.FindTrusted(fp) is not null)
        {
            connection.MarkAuthenticated();
            return new(PairingOutcome.Authenticated, trust.RecordSeen(fp, peerName, endpoint), false, null);
        }

        if (host is null)
        {
            await CloseAsync(connection).ConfigureAwait(false);
            return new(PairingOutcome.NotPaired, null, false, null);
        }

        var options = OspAuthenticationOptions.ForListener(identity, authToken);
        var result = await OspAuthentication.AuthenticateAsync(connection, new OspAuthenticationOptions
        {
            Identity = options.Identity,
            IsAdvertiser = false,
            AuthToken = options.AuthToken,
            Capabilities = new AuthCapabilities
            {
                PskEaseOfInput = 100,
                PskInputMethods = [PskInputMethod.Numeric],
                PskMinBitsOfEntropy = OspPsk.MinEntropyBits,
            },
            PeerDisplayName = peerName,
            Logger = logger,
        }, host, cancellationToken).ConfigureAwait(false);
        if (!result.IsAuthenticated)
            return new(result.Failure == OspAuthFailure.RateLimited ? PairingOutcome.Refused : PairingOutcome.Failed, null, false, $"{result.Failure}: {result.Message}");
        return new(PairingOutcome.Authenticated, trust.RecordAuthenticated(fp, peerName, endpoint), true, null);
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

    private static async Task CloseAsync(OspConnection connection)
    {
        try
        {
            await connection.CloseAsync(OspConnection.NotAuthenticatedErrorCode, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OspException)
        {
        }
    }
}
