using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Pairing;

/// <summary>An authenticated connection from a CLI client command (pair, chat, send) to an agent.</summary>
internal sealed class PeerSession : IAsyncDisposable
{
    private readonly MdnsService _mdns;

    internal PeerSession(MdnsService mdns, OspConnection connection, OspAgentInfo agent, PairingResult result)
    {
        _mdns = mdns;
        Connection = connection;
        Agent = agent;
        Result = result;
    }

    /// <summary>The OSP connection (authenticated when <see cref="Result"/> says so).</summary>
    public OspConnection Connection { get; }

    /// <summary>The agent as discovered.</summary>
    public OspAgentInfo Agent { get; }

    /// <summary>How authentication ended.</summary>
    public PairingResult Result { get; }

    /// <summary>Closes the connection and the mDNS service.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Connection.CloseAsync(OspConnection.NoErrorCode, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OspException or TimeoutException or ObjectDisposedException)
        {
        }
        await Connection.DisposeAsync().ConfigureAwait(false);
        await _mdns.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The client half of the CLI: find an agent with mDNS, connect over QUIC (pinning its fingerprint), authenticate.</summary>
internal static class PeerClient
{
    /// <summary>
    /// Finds the agent that <paramref name="match"/> accepts, connects and authenticates: without a PIN when it is
    /// trusted, else with the PIN from <paramref name="readPin"/> (null: <see cref="PairingOutcome.NotPaired"/>).
    /// Discovery and connecting are bounded by <paramref name="timeout"/>; PIN entry is not.
    /// </summary>
    public static async Task<PeerSession> ConnectAsync(AgentIdentity identity, PeerTrust trust, string peerLabel, Func<OspAgentInfo, bool> match,
        Func<CancellationToken, Task<string?>>? readPin, IReadOnlyList<string>? interfaces, TimeSpan timeout, ILogger mdnsLog, ILogger ospLog, CancellationToken cancellationToken)
    {
        var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = interfaces, Logger = mdnsLog });
        OspConnection? connection = null;
        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(timeout);
            OspAgentInfo agent;
            try
            {
                agent = await PeerFinder.FindAsync(mdns, match, timeout, ospLog, connectTimeout.Token).ConfigureAwait(false);
                connection = await OspConnection.ConnectAsync(agent, OspPairing.AgentOptions(identity, OspInstanceName.WithoutMarker(identity.InstanceName)), connectTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                throw new CliException($"{peerLabel}: not found or not answering within {timeout.TotalSeconds:0.#} s");
            }
            if (ospLog.IsEnabled(LogLevel.Debug)) ospLog.LogDebug("connected to '{Name}' at {Remote}", agent.DisplayName, connection.RemoteEndPoint);
            var result = await OspPairing.AuthenticateOutgoingAsync(connection, identity, agent.Txt.AuthToken, agent.DisplayName, trust, readPin, ospLog, cancellationToken).ConfigureAwait(false);
            return new PeerSession(mdns, connection, agent, result);
        }
        catch
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            await mdns.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
