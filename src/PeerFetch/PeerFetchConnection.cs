using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.Channels;
using OspBridge.PeerFetch.Core;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch;

/// <summary>
/// The thin async driver of one v2 channel: one receive loop feeding <see cref="PeerFetchMux"/>, one send loop
/// draining it into the <see cref="IMessageChannel"/>, a timer for its deadline, and one lock around the core.
/// Both ends may open streams (requests) and accept them.
/// </summary>
internal sealed class PeerFetchConnection : IAsyncDisposable
{
    /// <summary>Frames up to this size may be coalesced with others into one channel message.</summary>
    private const int CoalesceFrame = 16 << 10;

    /// <summary>Largest coalesced message (also bounded by the channel's max message size).</summary>
    private const int CoalesceLimit = 64 << 10;

    private readonly object _gate = new();
    private readonly PeerFetchMux _mux;
    private readonly IMessageChannel _channel;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly ITimer _timer;
    private readonly Channel<OutFrame> _send = Channel.CreateUnbounded<OutFrame>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<PeerFetchStream> _incoming = Channel.CreateUnbounded<PeerFetchStream>();
    private readonly Dictionary<uint, PeerFetchStream> _streams = [];
    private readonly IPooledMessageChannel? _pooled;
    private readonly Stack<MessageLease> _freeLeases = new();
    private MessageLease? _receiving;
    private readonly TaskCompletionSource<bool> _negotiated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cts = new();
    private TaskCompletionSource? _slot;
    private Task _receiveLoop = Task.CompletedTask;
    private Task _sendLoop = Task.CompletedTask;
    private Exception? _failure;
    private int _disposed;

    private PeerFetchConnection(IMessageChannel channel, PeerFetchMuxOptions options, ILogger? logger, TimeProvider? time)
    {
        _channel = channel;
        _pooled = channel as IPooledMessageChannel;
        _mux = new PeerFetchMux(options with { MaxMessageSize = channel.MaxMessageSize });
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
        _timer = _time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True once both HELLOs were exchanged.</summary>
    public bool IsOpen { get { lock (_gate) return _mux.State == MuxState.Open && !_mux.PeerGoingAway; } }

    /// <summary>Completes when the channel is finished (closed, failed or disposed).</summary>
    public Task Completion => _closed.Task;

    /// <summary>
    /// Initiator: sends HELLO and waits for the peer's. Returns null when the peer answered with v1 text or stayed
    /// silent (the channel is left untouched for a v1 client; nothing more is read from it).
    /// </summary>
    public static async Task<PeerFetchConnection?> ConnectAsync(IMessageChannel channel, PeerFetchSettings settings, TimeSpan negotiationTimeout, ILogger? logger, TimeProvider? time, CancellationToken cancellationToken, TimeSpan keepAliveInterval = default, TimeSpan idleTimeout = default)
    {
        var c = new PeerFetchConnection(channel, new PeerFetchMuxOptions { IsInitiator = true, LocalSettings = settings, NegotiationTimeout = negotiationTimeout, KeepAliveInterval = keepAliveInterval, IdleTimeout = idleTimeout }, logger, time);
        c.Run(firstMessage: null);
        bool v2;
        try
        {
            v2 = await c._negotiated.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (v2) return c;
        // v1: stop our loops without closing the channel.
        await c.StopAsync().ConfigureAwait(false);
        return null;
    }

    /// <summary>Acceptor: the first message (a HELLO) was already read by the caller.</summary>
    public static PeerFetchConnection Accept(IMessageChannel channel, ChannelMessage firstMessage, PeerFetchSettings settings, ILogger? logger, TimeProvider? time, TimeSpan keepAliveInterval = default, TimeSpan idleTimeout = default)
    {
        var c = new PeerFetchConnection(channel, new PeerFetchMuxOptions { IsInitiator = false, LocalSettings = settings, KeepAliveInterval = keepAliveInterval, IdleTimeout = idleTimeout }, logger, time);
        c.Run(firstMessage);
        return c;
    }

    private TimeSpan Now => _time.GetElapsedTime(_start);

    private void Run(ChannelMessage? firstMessage)
    {
        lock (_gate)
        {
            _mux.Start(Now);
            if (firstMessage is { } m) _mux.Receive(m.Data, m.IsText, Now);
            Flush();
        }
        _sendLoop = Task.Run(SendLoopAsync);
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var m = await _channel.ReceiveAsync(_cts.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    if (m is null)
                    {
                        _mux.ChannelClosed();
                        Flush();
                        break;
                    }

                    // A pooled message goes back to the channel once every DATA slice of it was read (or dropped).
                    var lease = _pooled is null ? null : RentLease(m.Value);
                    _receiving = lease;
                    try
                    {
                        _mux.Receive(m.Value.Data, m.Value.IsText, Now);
                        Flush();
                    }
                    finally
                    {
                        _receiving = null;
                        lease?.Unref();
                    }
                    if (_mux.State == MuxState.Closed) break;
                }
                if (m is null) break;
            }
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Fail(ex);
        }
    }

    private async Task SendLoopAsync()
    {
        try
        {
            var reader = _send.Reader;
            int limit = (int)Math.Min(CoalesceLimit, _channel.MaxMessageSize > 0 ? _channel.MaxMessageSize : CoalesceLimit);
            while (await reader.WaitToReadAsync(_cts.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                {
                    // Frames queued together go out as one message (a message carries one or more whole frames,
                    // docs/peerfetch.md §2): 64 concurrent small requests cost a few channel messages, not 200.
                    // Only small frames are copied; a large DATA frame goes out on its own, uncopied. Every channel
                    // copies (or consumes) the bytes before SendAsync completes, so pooled arrays go back right after.
                    // A channel with header room (LP2P) takes a pooled frame's array as it is: no copy of a DATA payload.
                    if (frame.Length > CoalesceFrame || !reader.TryPeek(out var next) || next.Length > CoalesceFrame || frame.Length + next.Length > limit)
                    {
                        if (frame.Pooled && _pooled is { } owner && frame.Offset >= owner.SendHeaderRoom)
                        {
                            await owner.SendPooledAsync(frame.Bytes, frame.Offset, frame.Length, isText: false, _cts.Token).ConfigureAwait(false);
                            continue;
                        }
                        try { await _channel.SendAsync(frame.Memory, isText: false, _cts.Token).ConfigureAwait(false); }
                        finally { frame.Release(); }
                        continue;
                    }
                    int room = _pooled?.SendHeaderRoom ?? 0;
                    byte[]? message = ArrayPool<byte>.Shared.Rent(room + limit);
                    int total = 0;
                    try
                    {
                        frame.Memory.Span.CopyTo(message.AsSpan(room));
                        total = frame.Length;
                        frame.Release();
                        while (reader.TryPeek(out next) && next.Length <= CoalesceFrame && total + next.Length <= limit && reader.TryRead(out next))
                        {
                            next.Memory.Span.CopyTo(message.AsSpan(room + total));
                            total += next.Length;
                            next.Release();
                        }
                        if (_pooled is { } owner)
                        {
                            byte[] taken = message;
                            message = null; // the channel owns it now, whatever happens
                            await owner.SendPooledAsync(taken, room, total, isText: false, _cts.Token).ConfigureAwait(false);
                        }
                        else
                        {
                            await _channel.SendAsync(message.AsMemory(0, total), isText: false, _cts.Token).ConfigureAwait(false);
                        }
                    }
                    finally
                    {
                        if (message is not null) ArrayPool<byte>.Shared.Return(message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Fail(ex);
        }
    }

    private void Fail(Exception ex)
    {
        lock (_gate)
        {
            _failure ??= ex;
            if (_mux.State != MuxState.Closed && _logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug(ex, "peerfetch: channel '{Label}' failed", _channel.Label);
            _mux.ChannelClosed();
            Flush();
        }
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            _mux.HandleDeadline(Now);
            Flush();
        }
    }

    /// <summary>Drains the core (messages, events, deadline). Caller holds the lock.</summary>
    private void Flush()
    {
        while (_mux.TryPollFrame(out var f)) { if (!_send.Writer.TryWrite(f)) f.Release(); }
        while (_mux.TryPollEvent(out var e)) Dispatch(e);
        if (_mux.NextDeadline is { } d)
        {
            var due = d - Now;
            _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        if (_mux.State == MuxState.Closed) Finish();
    }

    private void Dispatch(MuxEvent e)
    {
        PeerFetchStream? s;
        switch (e.Type)
        {
            case MuxEventType.Negotiated:
                _negotiated.TrySetResult(true);
                break;
            case MuxEventType.PeerIsV1:
            case MuxEventType.NegotiationTimedOut:
                if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("peerfetch: channel '{Label}': {Why}; falling back to v1", _channel.Label, e.Message);
                _negotiated.TrySetResult(false);
                break;
            case MuxEventType.StreamOpened:
                s = new PeerFetchStream(this, e.StreamId, e.Headers!, e.EndStream);
                _streams[e.StreamId] = s;
                _incoming.Writer.TryWrite(s);
                break;
            case MuxEventType.Headers:
                if (_streams.TryGetValue(e.StreamId, out s)) s.OnHeaders(e.Headers!, e.EndStream);
                if (e.EndStream) Forget(e.StreamId);
                break;
            case MuxEventType.Data:
                if (_streams.TryGetValue(e.StreamId, out s)) s.OnData(e.Data, e.EndStream, _receiving);
                else _mux.Consume(e.StreamId, e.Data.Length);
                if (e.EndStream) Forget(e.StreamId);
                break;
            case MuxEventType.StreamReset:
                if (_streams.Remove(e.StreamId, out s)) s.OnReset(e.Code, e.Message);
                WakeSlot();
                break;
            case MuxEventType.Credit:
                if (e.StreamId == 0) { foreach (var x in _streams.Values) x.WakeWriter(); }
                else if (_streams.TryGetValue(e.StreamId, out s)) s.WakeWriter();
                break;
            case MuxEventType.GoAway:
                if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("peerfetch: channel '{Label}': peer sent GOAWAY ({Code}) {Debug}", _channel.Label, e.Code, e.Message);
                WakeSlot();
                break;
            case MuxEventType.PingAck:
                break;
            case MuxEventType.ConnectionError:
                if (e.Code != PeerFetchErrorCode.NoError && _logger.IsEnabled(LogLevel.Warning)) _logger.LogWarning("peerfetch: channel '{Label}': {Code} {Reason}", _channel.Label, e.Code, e.Message);
                _negotiated.TrySetException(new PeerFetchException(PeerFetchError.Protocol, e.Message ?? "connection error"));
                break;
        }
    }

    /// <summary>Stream bookkeeping in the driver: a stream whose remote side ended stays reachable for writes
    /// until the core retires it; we only need it for incoming events while the remote side is open.</summary>
    private void Forget(uint id)
    {
        if (_streams.TryGetValue(id, out var s) && s.LocalEnded) _streams.Remove(id);
        WakeSlot();
    }

    internal void RemoveStream(uint id)
    {
        _streams.Remove(id);
        WakeSlot();
    }

    internal void OnLocalEnded(PeerFetchStream s)
    {
        if (s.RemoteEnded) _streams.Remove(s.Id);
        WakeSlot();
    }

    private MessageLease RentLease(ChannelMessage message)
    {
        var lease = _freeLeases.TryPop(out var l) ? l : new MessageLease(this);
        lease.Start(message);
        return lease;
    }

    /// <summary>A lease's last slice was read or dropped: the message goes back to the channel. Caller holds the lock.</summary>
    private void ReturnLease(MessageLease lease, ChannelMessage message)
    {
        _pooled!.Release(message);
        if (_freeLeases.Count < 256) _freeLeases.Push(lease);
    }

    /// <summary>
    /// One received channel message whose memory belongs to a pooled channel, counted by the DATA slices of it still
    /// queued in streams (plus one while the receive loop feeds it to the core). Reused: no allocation per message in
    /// steady state. Every count change happens under the connection's lock.
    /// </summary>
    internal sealed class MessageLease(PeerFetchConnection owner)
    {
        private ChannelMessage _message;
        private int _refs;

        public void Start(ChannelMessage message)
        {
            _message = message;
            _refs = 1;
        }

        public void Ref() => _refs++;

        public void Unref()
        {
            if (--_refs == 0)
            {
                var m = _message;
                _message = default;
                owner.ReturnLease(this, m);
            }
        }
    }

    private void WakeSlot()
    {
        var t = _slot;
        _slot = null;
        t?.TrySetResult();
    }

    private void Finish()
    {
        _negotiated.TrySetResult(false);
        foreach (var s in _streams.Values) s.OnReset(PeerFetchErrorCode.Cancel, _failure?.Message ?? "channel closed");
        _streams.Clear();
        _incoming.Writer.TryComplete();
        WakeSlot();
        _closed.TrySetResult();
    }

    // ---------------------------------------------------------------- API used by the client and the device

    /// <summary>Opens a request stream, waiting for a free slot under the peer's MaxConcurrentStreams.</summary>
    public async Task<PeerFetchStream> OpenStreamAsync(IReadOnlyList<KeyValuePair<string, string>> head, bool endStream, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_mux.State != MuxState.Open) throw new PeerFetchException(PeerFetchError.ChannelClosed, "the PeerFetch channel is closed", _failure);
                if (_mux.LocalStreams < _mux.PeerSettings.MaxConcurrentStreams || _mux.PeerGoingAway)
                {
                    uint id = _mux.OpenStream(head, endStream);
                    var s = new PeerFetchStream(this, id);
                    if (endStream) s.MarkLocalEnded();
                    _streams[id] = s;
                    Flush();
                    return s;
                }
                _slot ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _slot.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The next stream the peer opened; null when the channel is done.</summary>
    public async ValueTask<PeerFetchStream?> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _incoming.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Sends GOAWAY (no new peer requests; running ones finish).</summary>
    public void GoAway(string reason)
    {
        lock (_gate)
        {
            _mux.GoAway(PeerFetchErrorCode.NoError, reason);
            Flush();
        }
    }

    /// <summary>Sends a PING.</summary>
    internal void Ping(ulong opaque)
    {
        lock (_gate) { _mux.Ping(opaque); Flush(); }
    }

    internal object Gate => _gate;

    internal PeerFetchMux Mux => _mux;

    internal void FlushLocked() => Flush();

    private async Task StopAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_receiveLoop, _sendLoop).ConfigureAwait(false); } catch (OperationCanceledException) { }
        _timer.Dispose();
        lock (_gate) { if (_mux.State != MuxState.Closed) _mux.ChannelClosed(); Flush(); }
    }

    /// <summary>Sends GOAWAY, lets queued frames go out briefly, stops the loops and closes the channel.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (_gate) { _mux.GoAway(PeerFetchErrorCode.NoError, "closing"); Flush(); }
        _send.Writer.TryComplete();
        try { await _sendLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch (TimeoutException) { } catch (OperationCanceledException) { }
        await StopAsync().ConfigureAwait(false);
        _cts.Dispose();
        try { await _channel.CloseAsync(CancellationToken.None).ConfigureAwait(false); } catch (Exception ex) when (ex is not OutOfMemoryException) { _logger.LogDebug(ex, "peerfetch: close"); }
    }
}
