using OspBridge.Osp.Trust;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.PeerFetch;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// The agent's PeerFetch over LP2P QUIC (docs/peerfetch.md §2.6): accepts <see cref="LP2PQuicTransport"/>s (ALPN
/// <c>q2q</c>) — the receiver hands out only those from peers holding an authenticated, granted LP2P connection — checks
/// the peer is still in the trust store, and serves every bidirectional stream as one request with the same
/// <see cref="PeerFetchDevice"/> (handler, allow-list, limits, access log) as the <c>http-proxy</c> data channels.
/// </summary>
internal static class AgentQuicPeerFetch
{
    public static async Task AcceptLoopAsync(LP2PReceiver receiver, OspTrustStore trust, PeerFetchDevice device,
        ConcurrentDictionary<IAsyncDisposable, Task> running, ILogger log, CancellationToken ct)
    {
        var listener = new LP2PQuicTransportListener(receiver);
        try
        {
            await foreach (var transport in listener.IncomingTransportsAsync(ct))
            {
                var connection = new Lp2pQuicPeerFetchConnection(transport);
                if (trust.FindTrusted(transport.RemoteFingerprint) is not { } peer)
                {
                    // Authenticated and granted, but revoked since: refuse (401 as on OSP connections).
                    if (log.IsEnabled(LogLevel.Information)) log.LogInformation("refusing PeerFetch over QUIC from untrusted {Fp}", transport.RemoteFingerprint);
                    await transport.CloseAsync(Osp.Agent.OspConnection.NotAuthenticatedErrorCode, CancellationToken.None);
                    await connection.DisposeAsync();
                    continue;
                }
                if (log.IsEnabled(LogLevel.Information)) log.LogInformation("peer '{Name}' ({Id}): PeerFetch over QUIC from {Remote}", peer.Name, peer.Id, transport.RemoteEndPoint);
                running[connection] = Task.Run(async () =>
                {
                    try { await device.ServeAsync(connection, peer.Id, ct); }
                    catch (Exception ex) when (ex is OspException or OperationCanceledException or IOException or PeerFetchException)
                    {
                        if (log.IsEnabled(LogLevel.Debug)) log.LogDebug("PeerFetch over QUIC from {Id} ended: {Error}", peer.Id, ex.Message);
                    }
                    finally { running.TryRemove(connection, out Task? _); }
                }, CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// On stop: closes the LP2P <paramref name="sessions"/> and every PeerFetch QUIC transport among
    /// <paramref name="running"/> concurrently (each wait bounded to 2 s), so every peer gets a CONNECTION_CLOSE at once.
    /// </summary>
    public static Task CloseAllAsync(IEnumerable<LP2PConnection> sessions, IEnumerable<IAsyncDisposable> running)
    {
        static async Task Bounded(Func<ValueTask> close)
        {
            try { await close().AsTask().WaitAsync(TimeSpan.FromSeconds(2)); }
            catch (Exception ex) when (ex is OspException or TimeoutException or ObjectDisposedException or IOException) { }
        }
        var closing = sessions.Select(c => Bounded(() => c.CloseAsync(CancellationToken.None)))
            .Concat(running.OfType<Lp2pQuicPeerFetchConnection>().Select(c => Bounded(() => c.Transport.CloseAsync(0, CancellationToken.None))));
        return Task.WhenAll(closing.ToList());
    }
}
