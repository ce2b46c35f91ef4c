using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Channels;
using OspBridge.Osp.Agent;

namespace OspBridge.Bridge.Pairing;

/// <summary>What the presenting side (the agent) does with a PIN and a new peer.</summary>
/// <param name="Present">Shows a PIN: grouped digits and the QR payload (hex).</param>
/// <param name="Consent">Whether a never-paired peer (name, id, fingerprint) may start pairing.</param>
internal sealed record PresenterHooks(Action<string, string> Present, Func<string, string, string, CancellationToken, Task<bool>> Consent);

/// <summary>How an authentication attempt ended.</summary>
internal enum PairingOutcome
{
    /// <summary>The peer is authenticated (newly paired, or already trusted).</summary>
    Authenticated,

    /// <summary>Key confirmation failed (wrong PIN) or the peer aborted.</summary>
    Failed,

    /// <summary>We need a PIN but the peer is not trusted and no PIN source was given (chat/send to an unpaired peer).</summary>
    NotPaired,

    /// <summary>Our side refused (no consent, back-off).</summary>
    Refused,
}

/// <summary>Result of authenticating one connection.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Peer">The authenticated peer as now stored in the trust store.</param>
/// <param name="NewlyPaired">True when a PIN was used and the peer was added to the trust store just now.</param>
/// <param name="Message">Details for logs.</param>
internal sealed record PairingResult(PairingOutcome Outcome, TrustedPeerView? Peer, bool NewlyPaired, string? Message);

/// <summary>
/// The CLI's glue to src/Osp/Auth (PIN authentication), src/Osp/Trust (trust store) and src/Osp/Lp2p (data
/// channels): one place that calls those libraries, so the commands read as the story they tell.
/// </summary>
internal static class OspPairing
{
    /// <summary>Agent options for the CLI: our identity and display name; only authenticated peers reach applications.</summary>
    public static OspAgentOptions AgentOptions(AgentIdentity identity, string displayName) => new()
    {
        Identity = identity,
        DisplayName = displayName,
        RequireAuthentication = true,
    };

    /// <summary>Advertiser side: authenticates an accepted connection (no PIN for a trusted peer; else consent, then we present a PIN).</summary>
    public static Task<PairingResult> AuthenticateIncomingAsync(OspConnection connection, AgentIdentity identity, PeerTrust trust, PresenterHooks hooks,
        ILogger logger, CancellationToken cancellationToken)
    {
        _ = (connection, identity, trust, hooks, logger, cancellationToken);
        throw NotMerged("PIN authentication (src/Osp/Auth)");
    }

    /// <summary>
    /// Listener side: authenticates a connection to an advertised agent whose auth token is <paramref name="authToken"/>;
    /// no PIN for a trusted peer, else the PIN from <paramref name="readPin"/> (null: refuse with <see cref="PairingOutcome.NotPaired"/>).
    /// </summary>
    public static Task<PairingResult> AuthenticateOutgoingAsync(OspConnection connection, AgentIdentity identity, string authToken, string peerName, PeerTrust trust,
        Func<CancellationToken, Task<string?>>? readPin, ILogger logger, CancellationToken cancellationToken)
    {
        _ = (connection, identity, authToken, peerName, trust, readPin, logger, cancellationToken);
        throw NotMerged("PIN authentication (src/Osp/Auth)");
    }

    /// <summary>Opens an LP2P data channel on an authenticated connection.</summary>
    public static Task<IMessageChannel> OpenChannelAsync(OspConnection connection, string label, string protocol, ILogger logger, CancellationToken cancellationToken)
    {
        _ = (connection, label, protocol, logger, cancellationToken);
        throw NotMerged("LP2P data channels (src/Osp/Lp2p)");
    }

    /// <summary>Serves incoming LP2P data channels of an authenticated connection until it closes.</summary>
    public static Task ServeChannelsAsync(OspConnection connection, Func<IMessageChannel, CancellationToken, Task> onChannel, ILogger logger, CancellationToken cancellationToken)
    {
        _ = (connection, onChannel, logger, cancellationToken);
        throw NotMerged("LP2P data channels (src/Osp/Lp2p)");
    }

    private static CliException NotMerged(string what) => new($"{what} is not available in this build");
}
