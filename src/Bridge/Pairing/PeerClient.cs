using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;

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
    /// <summary>
    /// The client commands' (chat, send, fetch) way to a peer already in the trust store: resolves <paramref name="which"/>,
    /// finds and connects to it without a PIN. On failure prints the one stderr line (<c>ospbridge: not paired with …</c>
    /// or <c>ospbridge: authentication failed</c>) and returns null.
    /// </summary>
    public static async Task<PeerSession?> ConnectTrustedAsync(AgentIdentity identity, PeerTrust trust, string which,
        IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger mdnsLog, ILogger ospLog, CancellationToken cancellationToken)
    {
        var trusted = trust.Resolve(which, out _);
        if (trusted is null)
        {
            await Console.Error.WriteLineAsync($"ospbridge: not paired with {which}").ConfigureAwait(false);
            return null;
        }
        var session = await ConnectAsync(identity, trust, which, a => a.Txt.Fingerprint == trusted.Fingerprint, host: null,
            interfaces, timeout, mdnsLog, ospLog, cancellationToken).ConfigureAwait(false);
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
        catch (OspException ex) when (ex.ApplicationErrorCode == Osp.Agent.OspConnection.NotAuthenticatedErrorCode || ex.Error == OspError.Refused)
        {
            throw new CliException($"not paired with {peer} (the agent refused: {ex.Message})");
        }
    }

    /// <summary>
    /// Finds the agent that <paramref name="match"/> accepts, connects and authenticates: without a PIN when it is
    /// trusted, else through <paramref name="host"/> (null: <see cref="PairingOutcome.NotPaired"/>).
    /// Discovery and connecting are bounded by <paramref name="timeout"/>; PIN entry is not.
    /// </summary>
    public static async Task<PeerSession> ConnectAsync(AgentIdentity identity, PeerTrust trust, string peerLabel, Func<OspAgentInfo, bool> match,
        IOspPairingHost? host, IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger mdnsLog, ILogger ospLog, CancellationToken cancellationToken)
    {
        var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = interfaces, Logger = mdnsLog });
        try
        {
            OspAgentInfo agent;
            try
            {
                agent = await PeerFinder.FindAsync(mdns, match, timeout, ospLog, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new CliException($"{peerLabel}: no such agent found within {timeout.TotalSeconds:0.#} s");
            }
            var (connection, result) = await ConnectAsync(agent, identity, trust, host, timeout, ospLog, cancellationToken).ConfigureAwait(false);
            return new PeerSession(mdns, connection, agent, result);
        }
        catch
        {
            await mdns.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Connects to a discovered agent and authenticates (the LP2P request with our authentication hook).</summary>
    public static async Task<(LP2PConnection? Connection, PairingResult Result)> ConnectAsync(OspAgentInfo agent, AgentIdentity identity, PeerTrust trust,
        IOspPairingHost? host, TimeSpan connectTimeout, ILogger ospLog, CancellationToken cancellationToken)
    {
        PairingResult? result = null;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(connectTimeout);
        var request = new LP2PRequest(new LP2PRequestOptions
        {
            Agent = OspPairing.AgentOptions(identity, OspInstanceName.WithoutMarker(identity.InstanceName), ospLog),
            Peer = agent,
            Authenticate = async (connection, ct) =>
            {
                limit.CancelAfter(Timeout.InfiniteTimeSpan); // connected: typing the PIN is not bounded by --timeout
                result = await OspPairing.AuthenticateOutgoingAsync(connection, identity, agent.Txt.AuthToken, agent.DisplayName, trust, host, ospLog, ct).ConfigureAwait(false);
            },
        });
        try
        {
            var connection = await request.StartAsync(limit.Token).ConfigureAwait(false);
            return (connection, result ?? new PairingResult(PairingOutcome.Failed, null, false, "no authentication ran"));
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
