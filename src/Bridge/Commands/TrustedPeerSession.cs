using System.CommandLine;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Lp2p;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// The start of every command that talks to a peer already in the trust store (<c>chat</c>, <c>send</c>, <c>view</c>,
/// <c>fetch</c>): the state directory's identity and trust store, then a PIN-less authenticated LP2P connection
/// (<see cref="PeerClient.ConnectTrustedAsync"/>). Owns both; disposing closes the session, then the identity.
/// </summary>
internal sealed class TrustedPeerSession : IAsyncDisposable
{
    private readonly AgentIdentity _identity;
    private readonly PeerSession _session;

    private TrustedPeerSession(AgentIdentity identity, PeerSession session)
    {
        _identity = identity;
        _session = session;
    }

    /// <summary>The authenticated LP2P connection to the peer.</summary>
    public LP2PConnection Connection => _session.Connection!;

    /// <summary>
    /// Connects to the trusted peer <paramref name="which"/>; null when it is not trusted or cannot be reached (the one
    /// <c>ospbridge: …</c> line is already on stderr: the command exits 1).
    /// </summary>
    public static async Task<TrustedPeerSession?> ConnectAsync(CliContext context, ParseResult parseResult, string which,
        IReadOnlyList<string>? interfaces, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string stateDir = context.GetStateDirectory(parseResult);
        var identity = AgentIdentity.LoadOrCreate(stateDir);
        try
        {
            var trust = PeerTrust.Open(stateDir);
            var session = await PeerClient.ConnectTrustedAsync(identity, trust, which, interfaces, timeout,
                context.Logger(parseResult, "mdns"), context.Logger(parseResult, "osp"), cancellationToken).ConfigureAwait(false);
            if (session is not null) return new TrustedPeerSession(identity, session);
        }
        catch
        {
            identity.Dispose();
            throw;
        }

        identity.Dispose();
        return null;
    }

    /// <summary>The client commands' <c>--timeout</c>: more than 0, at most 3600 seconds.</summary>
    /// <exception cref="CliException">Outside that range.</exception>
    public static TimeSpan RequireTimeout(double seconds)
    {
        if (double.IsNaN(seconds) || seconds is <= 0 or > 3600) throw new CliException("--timeout must be between 0 and 3600 seconds");
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Closes the session, then releases the identity.</summary>
    public async ValueTask DisposeAsync()
    {
        await _session.DisposeAsync().ConfigureAwait(false);
        _identity.Dispose();
    }
}
