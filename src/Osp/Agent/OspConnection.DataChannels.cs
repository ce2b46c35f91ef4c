using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>
/// LP2P data channels on the connection: the peer opens a bidirectional stream and sends data-channel-open-request
/// (1101) first. The request is read here (small, bounded in size and time), then the loop gates it: accepted on an
/// authenticated connection, held for <see cref="OspAgentOptions.AuthenticationGracePeriod"/> otherwise (QUIC
/// does not order streams, so it may overtake the authentication it follows), then refused by closing the connection
/// with <see cref="NotAuthenticatedErrorCode"/>.
/// </summary>
public sealed partial class OspConnection
{
    private readonly List<PendingChannel> _heldChannelRequests = []; // loop only
    private Channel<LP2PDataChannel>? _incomingChannelsStore;
    private int _nextChannelId = -1;

    /// <summary>Accepted data channels the application has not taken yet (bounded by <see cref="OspAgentOptions.MaxDataChannels"/>).</summary>
    private Channel<LP2PDataChannel> IncomingChannelQueue => LazyInitializer.EnsureInitialized(ref _incomingChannelsStore,
        () => Channel.CreateBounded<LP2PDataChannel>(new BoundedChannelOptions(Math.Max(1, _options.MaxDataChannels)) { SingleWriter = true }));

    /// <summary>Data channels the peer opened (and we accepted), in order of acceptance; completes when the connection closes.</summary>
    internal ChannelReader<LP2PDataChannel> IncomingDataChannels => IncomingChannelQueue.Reader;

    /// <summary>A channel id for a channel we open (0..65534, wrapping).</summary>
    internal ushort NextChannelId() => (ushort)((uint)Interlocked.Increment(ref _nextChannelId) % 65535);

    /// <summary>Reads the first message of a peer's bidirectional stream: it must be a data-channel-open-request and nothing after it.</summary>
    private async Task ReadChannelRequestAsync(QuicStream stream)
    {
        var demux = _preAuthDemuxer.CreateStream();
        var received = new List<IOspMessage>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1024);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        stall.CancelAfter(_options.StallTimeout);
        bool handedOver = false;
        try
        {
            while (received.Count == 0)
            {
                int n = await stream.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                DemuxResult result = Demux(demux, buffer.AsMemory(0, n), n == 0, received);
                if (!result.IsOk)
                {
                    CloseForUndecodable(result);
                    return;
                }

                if (n == 0 && received.Count == 0)
                {
                    return; // FIN without a request: nothing to open
                }
            }

            // The opener waits for our response before it sends data frames: anything after the request is a protocol error.
            if (received is not [DataChannelOpenRequest request] || demux.HasPartialMessage)
            {
                BeginClose(ProtocolErrorCode, sendClose: true);
                return;
            }

            handedOver = _work.Writer.TryWrite(new Work(WorkKind.ChannelRequest, new PendingChannel(stream, request)));
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            CloseIfStalled(stall, "a data-channel-open-request");
        }
        finally
        {
            demux.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
            if (!handedOver)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>On the loop: a peer's open request, read completely.</summary>
    private void OnChannelRequest(PendingChannel pending)
    {
        if (_closed.Task.IsCompleted)
        {
            _ = pending.Stream.DisposeAsync().AsTask();
            return;
        }

        if (IsAuthenticated)
        {
            AcceptChannel(pending);
            return;
        }

        // Not authenticated (yet): hold the request for the grace period, bounded by the stream limit.
        _heldChannelRequests.Add(pending);
        pending.Grace = new CancellationTokenSource(_options.AuthenticationGracePeriod);
        pending.Grace.Token.Register(static state =>
        {
            var (connection, p) = ((OspConnection, PendingChannel))state!;
            connection._work.Writer.TryWrite(new Work(WorkKind.GraceExpired, p));
        }, (this, pending));
    }

    private void OnGraceExpired(PendingChannel pending)
    {
        if (!_heldChannelRequests.Remove(pending)) return;
        pending.Grace?.Dispose();
        _ = pending.Stream.DisposeAsync().AsTask();
        LogRefusedChannel(_logger, RemoteEndPoint, pending.Request.Label, null);
        BeginClose(NotAuthenticatedErrorCode, sendClose: true);
    }

    private void AcceptHeldChannelRequests()
    {
        if (_closed.Task.IsCompleted) return;
        foreach (PendingChannel p in _heldChannelRequests)
        {
            p.Grace?.Dispose();
            AcceptChannel(p);
        }

        _heldChannelRequests.Clear();
    }

    private void DropHeldChannelRequests()
    {
        foreach (PendingChannel p in _heldChannelRequests)
        {
            p.Grace?.Dispose();
            _ = p.Stream.DisposeAsync().AsTask();
        }

        _heldChannelRequests.Clear();
    }

    private void AcceptChannel(PendingChannel p)
    {
        var channel = LP2PDataChannel.CreateAccepted(this, p.Stream, p.Request);
        if (IncomingChannelQueue.Writer.TryWrite(channel))
        {
            channel.Start(accepted: true);
        }
        else
        {
            // The application does not take channels this fast: refuse this one (transient), keep the connection.
            channel.Refuse(Result.TransientError);
        }
    }

    private sealed class PendingChannel(QuicStream stream, DataChannelOpenRequest request)
    {
        public QuicStream Stream { get; } = stream;

        public DataChannelOpenRequest Request { get; } = request;

        public CancellationTokenSource? Grace { get; set; }
    }

    private static readonly Action<ILogger, System.Net.IPEndPoint, string, Exception?> LogRefusedChannel =
        LoggerMessage.Define<System.Net.IPEndPoint, string>(LogLevel.Information, new EventId(5, "OspDataChannelRefused"),
            "OSP peer {Remote} opened data channel '{Label}' without authenticating; closing");
}
