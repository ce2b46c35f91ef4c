using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;

namespace OspBridge.Net.IO;

/// <summary>
/// The receive side of a socket: one task that reads batches and hands each datagram to a dispatcher
/// (which posts it to the right <see cref="CoreLoop{TEvent}"/>, e.g. by QUIC connection ID or ICE
/// 5-tuple). The dispatcher runs on the receive task and must not block.
/// </summary>
public static class DatagramReceiver
{
    /// <summary>The dispatcher: one received datagram (valid only during the call) and its path.</summary>
    public delegate void Dispatch(Span<byte> datagram, DatagramPath path);

    /// <summary>
    /// Receives until <paramref name="cancellationToken"/> fires or the socket is disposed. Socket errors
    /// that concern one datagram (ICMP unreachable, truncation) are skipped; the loop ends on disposal.
    /// </summary>
    public static Task RunAsync(IDatagramSocket socket, Dispatch dispatch, ILogger? logger = null, int batchSize = 32, int slotSize = 65_535, CancellationToken cancellationToken = default)
        => RunAsync(socket, dispatch, afterBatch: null, logger, batchSize, slotSize, cancellationToken);

    /// <summary>
    /// Like <see cref="RunAsync(IDatagramSocket, Dispatch, ILogger?, int, int, CancellationToken)"/>; <paramref name="afterBatch"/>
    /// runs after the datagrams of each received batch were dispatched (e.g. to wake a loop once per batch after queueing
    /// its datagrams without waking it).
    /// </summary>
    public static async Task RunAsync(IDatagramSocket socket, Dispatch dispatch, Action? afterBatch, ILogger? logger, int batchSize, int slotSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(dispatch);
        var batch = new DatagramBatch(batchSize, slotSize);
        int consecutiveErrors = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(batch, cancellationToken).ConfigureAwait(false);
                consecutiveErrors = 0;
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (System.Net.Sockets.SocketException ex)
            {
                // ECONNREFUSED/ENETUNREACH from an earlier send surface here on Linux; bounded so a dead socket ends.
                if (++consecutiveErrors > 1000) { logger?.LogWarning(ex, "receive on {Local} keeps failing; stopping", socket.LocalEndPoint); return; }
                continue;
            }
            for (int i = 0; i < n; i++) dispatch(batch[i], batch.PathAt(i));
            if (n > 0) afterBatch?.Invoke();
        }
    }
}
