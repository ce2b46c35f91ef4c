using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Pairing;

/// <summary>The outcome of a CLI client command's connection (pair, chat, send) to an agent.</summary>
internal sealed class PeerSession : IAsyncDisposable
{
    private readonly MdnsService _mdns;

    internal PeerSession(MdnsService mdns, LP2PConnection? connection, OspAgentInfo agent, PairingResult result)
    {
        _mdns = mdns;
        Connection = connection;
        Agent = agent;
        Result = result;
    }

    /// <summary>The authenticated LP2P connection (null when authentication did not succeed).</summary>
    public LP2PConnection? Connection { get; }

    /// <summary>The agent as discovered.</summary>
    public OspAgentInfo Agent { get; }

    /// <summary>How authentication ended.</summary>
    public PairingResult Result { get; }

    /// <summary>Closes the connection and the mDNS service.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Connection is not null)
        {
            try
            {
                await Connection.CloseAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OspException or TimeoutException or ObjectDisposedException)
            {
            }
            await Connection.DisposeAsync().ConfigureAwait(false);
        }
        await _mdns.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The client half of the CLI: find an agent with mDNS, connect over QUIC (pinning its fingerprint), authenticate, LP2P.</summary>
internal static class PeerClient
{
    /// <summary>QUIC PING interval on the sessions this side opens (a third of the default 30 s idle timeout).</summary>
    internal static readonly TimeSpan SessionKeepAlive = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The client commands' (chat, send, fetch) way to a peer already in the trust store: resolves <paramref name="which"/>,
    /// finds and connects to it without a PIN. On failure prints the one stderr line (<c>ospbridge: not paired with …</c>
    /// or <c>ospbridge: authentication failed</c>) and returns null.
    /// </summary>
    public static async Task<PeerSession?> ConnectTrustedAsync(AgentIdentity identity, OspTrustStore trust, string which,
        IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger mdnsLog, ILogger ospLog, CancellationToken cancellationToken)
    {
        var trusted = trust.TryResolve(which, out _);
        if (trusted is null)
        {
            await Console.Error.WriteLineAsync($"ospbridge: not paired with {which}").ConfigureAwait(false);
            return null;
        }
        // A peer with a private instance name is found by fingerprint only: asking the LAN for its name would broadcast it.
        bool isPrivate = trust.Find(trusted.Fingerprint) is { } record && record.Marks.HasFlag(OspPeerMarks.PrivateName);
        var session = await ConnectAsync(identity, trust, which, a => a.Txt.Fingerprint == trusted.Fingerprint, host: null, forcePin: false,
            interfaces, timeout, mdnsLog, ospLog, cancellationToken, instanceHints: isPrivate ? [] : PeerFinder.HintFor(trusted.Name)).ConfigureAwait(false);
        if (session.Result.Outcome == PairingOutcome.Authenticated) return session;
        await session.DisposeAsync().ConfigureAwait(false);
        await Console.Error.WriteLineAsync(session.Result.Outcome == PairingOutcome.NotPaired ? $"ospbridge: not paired with {which}" : "ospbridge: authentication failed").ConfigureAwait(false);
        return null;
    }

    /// <summary>Opens a data channel; an agent that no longer trusts us closes the connection (401): "not paired".</summary>
    public static async Task<LP2PDataChannel> OpenChannelAsync(LP2PConnection connection, string label, string protocol, string peer, CancellationToken cancellationToken)
    {
        try
        {
            return await connection.CreateDataChannelAsync(label, new LP2PDataChannelInit { Protocol = protocol }, cancellationToken).ConfigureAwait(false);
        }
        catch (OspException ex) when (ex.Error == OspError.NotTrustedByPeer)
        {
            throw new CliException(NoLongerTrustsUs(peer));
        }
        catch (OspException ex) when (ex.ApplicationErrorCode == Osp.Agent.OspConnection.NotAuthenticatedErrorCode || ex.Error == OspError.Refused)
        {
            throw new CliException($"not paired with {peer} (the agent refused: {ex.Message})");
        }
    }

    /// <summary>The one-line error of a trusted peer that revoked us (docs/cli.md).</summary>
    public static string NoLongerTrustsUs(string peer) => $"{peer} no longer trusts us (it revoked this pairing); pair again: ospbridge pair {peer}";

    /// <summary>
    /// Finds the agent that <paramref name="match"/> accepts, connects and authenticates: without a PIN when it is
    /// trusted (unless <paramref name="forcePin"/>), else through <paramref name="host"/> (null: <see cref="PairingOutcome.NotPaired"/>).
    /// Discovery and connecting are bounded by <paramref name="timeout"/>; PIN entry is not. <paramref name="vet"/> sees the
    /// chosen agent and every agent discovery saw (the suspicious-agent check of <c>pair</c>) and may throw to refuse.
    /// </summary>
    public static async Task<PeerSession> ConnectAsync(AgentIdentity identity, OspTrustStore trust, string peerLabel, Func<OspAgentInfo, bool> match,
        IOspPairingHost? host, bool forcePin, IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger mdnsLog, ILogger ospLog, CancellationToken cancellationToken,
        Action<OspAgentInfo, IReadOnlyList<OspAgentInfo>>? vet = null, IEnumerable<string>? instanceHints = null)
    {
        var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = interfaces, Logger = mdnsLog });
        try
        {
            OspAgentInfo agent;
            try
            {
                (agent, var seen) = await PeerFinder.FindWithOthersAsync(mdns, match, timeout, ospLog, cancellationToken, instanceHints).ConfigureAwait(false);
                vet?.Invoke(agent, seen);
            }
            catch (TimeoutException)
            {
                throw new CliException($"{peerLabel}: no such agent found within {timeout.TotalSeconds:0.#} s");
            }
            var (connection, result) = await ConnectAsync(agent, identity, trust, host, timeout, ospLog, cancellationToken, forcePin).ConfigureAwait(false);
            return new PeerSession(mdns, connection, agent, result);
        }
        catch
        {
            await mdns.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// After authentication: a private agent's real name (its agent-info, answered only to authenticated peers) becomes
    /// the trusted record's name and the record is marked <see cref="OspPeerMarks.PrivateName"/>; an agent that stopped
    /// advertising privately loses the mark. Returns the result with the record as now stored.
    /// </summary>
    private static PairingResult NotePrivateName(OspTrustStore trust, OspAgentInfo agent, LP2PConnection connection, PairingResult result)
    {
        // One read-modify-write (it was a read, two writes and a read per connect): no write when nothing changed.
        var record = trust.RecordPrivateName(agent.Txt.Fingerprint, agent.IsPrivate, agent.IsPrivate ? connection.PeerInfo?.DisplayName : null);
        return record is null ? result : result with { Peer = TrustedPeerView.From(record) };
    }

    /// <summary>Connects to a discovered agent and authenticates (the LP2P request with our authentication hook).</summary>
    public static async Task<(LP2PConnection? Connection, PairingResult Result)> ConnectAsync(OspAgentInfo agent, AgentIdentity identity, OspTrustStore trust,
        IOspPairingHost? host, TimeSpan connectTimeout, ILogger ospLog, CancellationToken cancellationToken, bool forcePin = false)
    {
        PairingResult? result = null;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(connectTimeout);
        var request = new LP2PRequest(new LP2PRequestOptions
        {
            // Sessions are held while idle (the bridge keeps one per paired device): PING before the 30 s idle timeout.
            Agent = OspPairing.AgentOptions(identity, OspInstanceName.WithoutMarker(identity.InstanceName), ospLog, keepAliveInterval: SessionKeepAlive),
            Peer = agent,
            Nickname = PeerTrust.App,
            // Naming the peer on the command line is the user's grant for this app (recorded, listed by `peers`).
            Grants = new OspTrustGrantPolicy(trust, new ConsoleConsentHost(null, acceptAll: false, commandLineNamesPeer: true, Console.Error), PeerTrust.App),
            Authenticate = async (connection, ct) =>
            {
                limit.CancelAfter(Timeout.InfiniteTimeSpan); // connected: typing the PIN is not bounded by --timeout
                // A private (random) instance name is not the peer's name: nothing is recorded until agent-info after authentication.
                result = await OspPairing.AuthenticateOutgoingAsync(connection, identity, agent.Txt.AuthToken, agent.IsPrivate ? null : agent.DisplayName,
                    trust, host, forcePin, ospLog, ct).ConfigureAwait(false);
            },
        });
        try
        {
            var connection = await request.StartAsync(limit.Token).ConfigureAwait(false);
            result ??= new PairingResult(PairingOutcome.Failed, null, false, "no authentication ran");
            if (result.Outcome == PairingOutcome.Authenticated) result = NotePrivateName(trust, agent, connection, result);
            return (connection, result);
        }
        catch (OspException ex) when (ex.Error == OspError.NotTrustedByPeer)
        {
            throw new CliException(NoLongerTrustsUs(agent.DisplayName));
        }
        catch (OspException ex) when (result is { Outcome: not PairingOutcome.Authenticated })
        {
            _ = ex;
            return (null, result);
        }
        catch (OspException ex) when (result is null && ex.Error is OspError.ConnectionFailed or OspError.Timeout or OspError.Refused)
        {
            throw new CliException($"{agent.DisplayName}: {ex.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException($"{agent.DisplayName}: not answering within {connectTimeout.TotalSeconds:0.#} s");
        }
    }
}
