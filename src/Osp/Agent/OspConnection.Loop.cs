using System.Buffers;
using Microsoft.Extensions.Logging;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>The connection's loops: the message loop (the only place that touches waiters and the gate), the send loop, the stream readers.</summary>
public sealed partial class OspConnection
{
    // The demuxers' handlers append to the list of the stream being pushed on this thread (MessageStream.Push is
    // synchronous), so one demuxer per connection serves every stream without a lock or a per-stream registry.
    [ThreadStatic]
    private static List<IOspMessage>? _sink;

    private static MessageDemuxer CreateDemuxer(int maxMessageSize)
    {
        var demuxer = new MessageDemuxer(new MessageDemuxerOptions { MaxMessageSize = Math.Max(64, maxMessageSize) });
        demuxer.RegisterAll(static m => _sink!.Add(m));
        return demuxer;
    }

    /// <summary>Pushes bytes (or the FIN) into <paramref name="stream"/>; decoded messages are appended to <paramref name="into"/>.</summary>
    internal static DemuxResult Demux(MessageStream stream, ReadOnlyMemory<byte> data, bool fin, List<IOspMessage> into)
    {
        _sink = into;
        try
        {
            return fin ? stream.Complete() : stream.Push(data);
        }
        finally
        {
            _sink = null;
        }
    }

    /// <summary>A demuxer stream for data-channel (bidirectional) streams.</summary>
    internal MessageStream CreateChannelStream() => _channelDemuxer.CreateStream();

    /// <summary>Closes the connection because of what the peer did (protocol error, stall, flood); callable from any thread.</summary>
    internal void Fail(long code) => BeginClose(code, sendClose: true);

    private enum WorkKind
    {
        Inbound,
        AddWaiter,
        RemoveWaiter,
        Authenticated,
        ChannelRequest,
        GraceExpired,
        Close,
        Subscribed,
    }

    /// <summary>Auth-* messages kept for a subscriber that is not there yet (the peer may start authenticating first).</summary>
    private const int EarlyAuthLimit = 8;

    private readonly record struct Work(WorkKind Kind, object? Item = null);

    private readonly record struct Outbound(byte[] Frame, string Name, TaskCompletionSource? Completion, bool IsReply, CancellationToken CancellationToken);

    /// <summary>The message loop: every inbound message, waiter change and gate decision, one at a time.</summary>
    private async Task RunLoopAsync()
    {
        await Task.Yield();
        var reader = _work.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out Work work))
            {
                try
                {
                    Process(work);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogLoopFailure(_logger, RemoteEndPoint, ex);
                    BeginClose(ProtocolErrorCode, sendClose: true);
                }
            }
        }
    }

    private void Process(Work work)
    {
        switch (work.Kind)
        {
            case WorkKind.Inbound:
                _inboundBudget.Release();
                OnMessage((IOspMessage)work.Item!);
                break;
            case WorkKind.AddWaiter:
                var waiter = (Waiter)work.Item!;
                if (_closed.Task.IsCompleted)
                {
                    waiter.Completion.TrySetException(ClosedException(_closed.Task.Result, waiter.What));
                }
                else
                {
                    _waiters.Add(waiter);
                }

                break;
            case WorkKind.RemoveWaiter:
                _waiters.Remove((Waiter)work.Item!);
                break;
            case WorkKind.Authenticated:
                AcceptHeldChannelRequests();
                break;
            case WorkKind.ChannelRequest:
                OnChannelRequest((PendingChannel)work.Item!);
                break;
            case WorkKind.GraceExpired:
                OnGraceExpired((PendingChannel)work.Item!);
                break;
            case WorkKind.Subscribed:
                DeliverEarlyAuth((Type)work.Item!);
                break;
            case WorkKind.Close:
                long code = _closed.Task.Result;
                foreach (Waiter w in _waiters)
                {
                    w.Completion.TrySetException(ClosedException(code, w.What));
                }

                _waiters.Clear();
                DropHeldChannelRequests();
                IncomingChannelQueue.Writer.TryComplete();
                _work.Writer.TryComplete();
                break;
        }
    }

    private void OnMessage(IOspMessage message)
    {
        if (_closed.Task.IsCompleted) return;
        if (!IsAuthenticated)
        {
            if (!IsAllowedBeforeAuthentication(message.TypeKey))
            {
                // Not processed: not answered, not delivered, not matched.
                BeginClose(NotAuthenticatedErrorCode, sendClose: true);
                return;
            }

            if (++_messagesBeforeAuthentication > _options.MaxMessagesBeforeAuthentication)
            {
                LogFlood(_logger, RemoteEndPoint, "messages before authentication", _options.MaxMessagesBeforeAuthentication, null);
                BeginClose(TooManyRequestsErrorCode, sendClose: true);
                return;
            }
        }

        if (message is AgentInfoRequest request)
        {
            var response = new AgentInfoResponse { RequestId = request.RequestId, AgentInfo = _options.BuildAgentInfo(_options.Identity.SerialBase64Url, _authenticated) };
            if (Interlocked.Increment(ref _pendingReplies) > _options.MaxPendingReplies
                || !_outbound.Writer.TryWrite(new Outbound(OspFraming.Frame(response), response.Name, null, IsReply: true, default)))
            {
                Interlocked.Decrement(ref _pendingReplies);
                LogFlood(_logger, RemoteEndPoint, "outstanding requests", _options.MaxPendingReplies, null);
                BeginClose(TooManyRequestsErrorCode, sendClose: true);
            }

            return;
        }

        if (_subscriptions.TryGetValue(message.GetType(), out Subscription? subscription))
        {
            try
            {
                subscription.Handler(message);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogHandlerFailure(_logger, message.Name, RemoteEndPoint, ex);
            }

            return;
        }

        for (int i = 0; i < _waiters.Count; i++)
        {
            Waiter w = _waiters[i];
            bool matches;
            try
            {
                matches = w.Matches(message);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                w.Completion.TrySetException(ex);
                _waiters.RemoveAt(i--);
                continue;
            }

            if (matches && w.Completion.TrySetResult(message))
            {
                _waiters.RemoveAt(i);
                return;
            }
        }

        // The peer may start authenticating before our authentication layer subscribed: keep (a few) auth
        // messages for it rather than handing them to the application.
        if (message.TypeKey is >= OspTypeKeys.AuthCapabilities and <= OspTypeKeys.AuthSpake2Handshake && _earlyAuth.Count < EarlyAuthLimit)
        {
            _earlyAuth.Add(message);
            return;
        }

        if (!_inbox.Writer.TryWrite(message))
        {
            BeginClose(ProtocolErrorCode, sendClose: true); // the application stopped reading: bounded memory beats silent loss
        }
    }

    /// <summary>
    /// A new subscription for <paramref name="type"/>: hands it the early auth-* messages held for it, then the
    /// messages of that type still waiting in the receive queue (they arrived before the subscription). The loop is
    /// the queue's only writer, so taking everything out and writing the rest back keeps their order; a concurrent
    /// <see cref="ReceiveAsync"/> only ever sees a prefix of that order.
    /// </summary>
    private void DeliverEarlyAuth(Type type)
    {
        if (_closed.Task.IsCompleted || !_subscriptions.TryGetValue(type, out Subscription? subscription)) return;
        for (int i = 0; i < _earlyAuth.Count; i++)
        {
            IOspMessage message = _earlyAuth[i];
            if (message.GetType() != type) continue;
            _earlyAuth.RemoveAt(i--);
            Deliver(subscription, message);
        }

        if (_inbox.Reader.Count == 0) return;
        var queued = new List<IOspMessage>(_inbox.Reader.Count);
        while (_inbox.Reader.TryRead(out IOspMessage? m)) queued.Add(m);
        foreach (IOspMessage m in queued)
        {
            if (m.GetType() == type) Deliver(subscription, m);
            else _inbox.Writer.TryWrite(m); // room: these were just taken out and only the loop writes
        }
    }

    private void Deliver(Subscription subscription, IOspMessage message)
    {
        try
        {
            subscription.Handler(message);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogHandlerFailure(_logger, message.Name, RemoteEndPoint, ex);
        }
    }

    /// <summary>The send loop: one message at a time, each on its own unidirectional stream, each bounded in time.</summary>
    private async Task SendLoopAsync()
    {
        await Task.Yield();
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_cts.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out Outbound item))
                {
                    try
                    {
                        if (item.CancellationToken.IsCancellationRequested)
                        {
                            item.Completion?.TrySetCanceled(item.CancellationToken);
                            continue;
                        }

                        await SendNowAsync(item).ConfigureAwait(false);
                        item.Completion?.TrySetResult();
                    }
                    catch (Exception ex) when (ex is OspException or OperationCanceledException)
                    {
                        item.Completion?.TrySetException(ex);
                    }
                    finally
                    {
                        if (item.IsReply) Interlocked.Decrement(ref _pendingReplies);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        while (reader.TryRead(out Outbound left))
        {
            left.Completion?.TrySetException(ClosedException(_closed.Task.IsCompleted ? _closed.Task.Result : NoErrorCode, $"sending {left.Name}"));
        }
    }

    private async Task SendNowAsync(Outbound item)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token, item.CancellationToken);
        limit.CancelAfter(_options.StallTimeout);
        try
        {
            var stream = await _quic.OpenOutboundStreamAsync(QuicStreamType.Unidirectional, limit.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(item.Frame, completeWrites: true, limit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            if (item.CancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException($"sending {item.Name}: canceled", ex, item.CancellationToken);
            }

            if (_closed.Task.IsCompleted)
            {
                throw ClosedException(_closed.Task.Result, $"sending {item.Name}");
            }

            if (limit.IsCancellationRequested)
            {
                LogStalled(_logger, RemoteEndPoint, item.Name, _options.StallTimeout.TotalSeconds, null);
                BeginClose(StalledErrorCode, sendClose: true);
                throw new OspException(OspError.Timeout, $"sending {item.Name}: {RemoteEndPoint} granted no stream credit within {_options.StallTimeout.TotalSeconds:0.#} s", ex, StalledErrorCode);
            }

            throw ex is QuicException q ? OspErrors.FromQuic(q, $"sending {item.Name} to {RemoteEndPoint}") : new OspException(OspError.Closed, $"sending {item.Name}: the connection is closed", ex);
        }
    }

    /// <summary>Accepts the peer's streams: unidirectional ones carry messages, bidirectional ones LP2P data channels.</summary>
    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                var stream = await _quic.AcceptInboundStreamAsync(_cts.Token).ConfigureAwait(false);
                // Each reader is one async method (at most MaxInboundMessageStreams + MaxDataChannels at once: QUIC's stream limits).
                _ = stream.Type == QuicStreamType.Unidirectional ? ReadMessageStreamAsync(stream) : ReadChannelRequestAsync(stream);
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            BeginClose(ex is QuicException { ApplicationErrorCode: { } code } ? code : NoErrorCode, sendClose: false);
        }
    }

    /// <summary>Reads one unidirectional stream: decodes its messages and hands them to the loop (waiting for room there).</summary>
    private async Task ReadMessageStreamAsync(QuicStream stream)
    {
        var demux = (IsAuthenticated ? _demuxer : _preAuthDemuxer).CreateStream();
        var received = new List<IOspMessage>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(4096);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        try
        {
            await using (stream.ConfigureAwait(false))
            {
                while (true)
                {
                    int n = await stream.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    DemuxResult result = Demux(demux, buffer.AsMemory(0, n), n == 0, received);
                    foreach (IOspMessage m in received)
                    {
                        await _inboundBudget.WaitAsync(_cts.Token).ConfigureAwait(false);
                        if (!_work.Writer.TryWrite(new Work(WorkKind.Inbound, m)))
                        {
                            return;
                        }
                    }

                    received.Clear();
                    if (!result.IsOk)
                    {
                        CloseForUndecodable(result);
                        return;
                    }

                    if (n == 0) return;

                    // A message left incomplete must be finished within the stall timeout.
                    stall.CancelAfter(demux.HasPartialMessage ? _options.StallTimeout : Timeout.InfiniteTimeSpan);
                }
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            CloseIfStalled(stall, "an incomplete message");
        }
        finally
        {
            demux.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A stream's bytes did not decode: close with OSP's unknown-type-key code or as a protocol error.</summary>
    private void CloseForUndecodable(DemuxResult result)
        => BeginClose(result.Status == DemuxStatus.UnknownTypeKey ? OspFraming.UnknownTypeKeyErrorCode : ProtocolErrorCode, sendClose: true);

    /// <summary>
    /// A stream reader stopped on an exception: when its stall timer fired (and the connection itself is not closing),
    /// the peer left <paramref name="waitingFor"/> unfinished for the stall timeout — log it and close as stalled.
    /// </summary>
    private void CloseIfStalled(CancellationTokenSource stall, string waitingFor)
    {
        if (stall.IsCancellationRequested && !_cts.IsCancellationRequested)
        {
            LogStalled(_logger, RemoteEndPoint, waitingFor, _options.StallTimeout.TotalSeconds, null);
            BeginClose(StalledErrorCode, sendClose: true);
        }
    }

    private static readonly Action<ILogger, System.Net.IPEndPoint, Exception?> LogLoopFailure =
        LoggerMessage.Define<System.Net.IPEndPoint>(LogLevel.Warning, new EventId(1, "OspLoopFailed"), "OSP connection to {Remote}: the message loop failed; closing");

    private static readonly Action<ILogger, System.Net.IPEndPoint, string, int, Exception?> LogFlood =
        LoggerMessage.Define<System.Net.IPEndPoint, string, int>(LogLevel.Information, new EventId(2, "OspPeerFlooding"), "OSP peer {Remote}: more {What} than {Limit}; closing");

    private static readonly Action<ILogger, System.Net.IPEndPoint, string, double, Exception?> LogStalled =
        LoggerMessage.Define<System.Net.IPEndPoint, string, double>(LogLevel.Information, new EventId(3, "OspPeerStalled"), "OSP peer {Remote}: {What} stalled for {Seconds} s; closing");

    private static readonly Action<ILogger, string, System.Net.IPEndPoint, Exception?> LogHandlerFailure =
        LoggerMessage.Define<string, System.Net.IPEndPoint>(LogLevel.Warning, new EventId(4, "OspHandlerFailed"), "OSP: the {Message} handler for {Remote} failed; message dropped");
}
