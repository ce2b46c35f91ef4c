using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using OspBridge.Net.Channels;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Lp2p;

/// <summary>Options of a data channel we open (WICG LP2P <c>LP2PDataChannelInit</c>).</summary>
public sealed class LP2PDataChannelInit
{
    /// <summary>Sub-protocol name sent in the open request (default: none).</summary>
    public string Protocol { get; init; } = "";

    /// <summary>The channel-id sent in the open request (0..65534); null: the connection picks the next one.</summary>
    public ushort? Id { get; init; }
}

/// <summary>
/// An LP2P data channel (WICG Local Peer-to-Peer API, Appendix A): one bidirectional QUIC stream of an authenticated
/// OSP connection. The opener sends <c>data-channel-open-request</c> (1101), the peer answers
/// <c>data-channel-open-response</c> (1102) on the same stream, then both sides send <c>data-frame</c>s (24) with key 0 =
/// encoding-id (1 string, 2 array-buffer; 0 blob is read as binary) and key 4 = payload. Closing = QUIC stream FIN in
/// each direction (the draft defines no close message): <see cref="CloseAsync"/> finishes our side after everything
/// queued is written, the peer answers with its FIN, and the channel is closed when both are seen. A stream reset or a
/// connection close is an error close (<see cref="OnError"/>, then <see cref="OnClose"/>). See docs/lp2p.md.
/// </summary>
/// <remarks>
/// Back-pressure both ways: <see cref="SendAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> waits while <see cref="BufferedAmount"/> would exceed
/// <see cref="OspAgentOptions.DataChannelSendBufferLimit"/> (the stream's QUIC flow control drains it); received messages
/// wait in a queue of <see cref="OspAgentOptions.DataChannelReceiveQueueLimit"/> for <see cref="ReceiveAsync"/>, and when it
/// is full the channel stops reading, so QUIC flow control stops the peer. Events are raised on pool threads, never
/// inside the connection's loop.
/// </remarks>
public sealed class LP2PDataChannel : IPooledMessageChannel
{
    private readonly OspConnection _connection;
    private readonly QuicStream _stream;
    private readonly bool _locallyOpened;
    private readonly Channel<Frame> _sendQueue = Channel.CreateUnbounded<Frame>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _admission = new(1, 1);
    private readonly Channel<ChannelMessage> _received;
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _abort = new();
    private readonly Channel<Action> _events = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private CancellationTokenRegistration _connectionClosed;
    private readonly long _sendLimit;
    private TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _buffered;
    private int _sendersWaiting;
    private int _state;
    private ulong _requestId;
    private int _localFinWritten, _remoteFinSeen;
    private OspException? _error;

    private LP2PDataChannel(OspConnection connection, QuicStream stream, string label, string protocol, ushort id, bool locallyOpened)
    {
        _connection = connection;
        _stream = stream;
        Label = label;
        Protocol = protocol;
        Id = id;
        _locallyOpened = locallyOpened;
        _sendLimit = Math.Max(1, connection.Options.DataChannelSendBufferLimit);
        MaxMessageSize = connection.Options.DataChannelMaxMessageSize;
        _received = Channel.CreateBounded<ChannelMessage>(new BoundedChannelOptions(Math.Max(1, connection.Options.DataChannelReceiveQueueLimit)) { SingleWriter = true });
        _ = _opened.Task.Exception; // observed: failures surface through OpenAsync / OnError
    }

    /// <summary>The channel's label.</summary>
    public string Label { get; }

    /// <summary>The sub-protocol (empty if none).</summary>
    public string Protocol { get; }

    /// <summary>The channel-id of the open request (informational: the QUIC stream identifies the channel).</summary>
    public ushort Id { get; }

    /// <summary>The QUIC stream carrying the channel.</summary>
    public long StreamId => _stream.Id;

    /// <summary>The peer's agent fingerprint.</summary>
    public string RemoteFingerprint => _connection.RemoteFingerprint;

    /// <inheritdoc/>
    public MessageChannelState State => (MessageChannelState)Volatile.Read(ref _state);

    /// <summary>Largest message accepted by <see cref="SendAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> and from the peer (<see cref="OspAgentOptions.DataChannelMaxMessageSize"/>).</summary>
    public long MaxMessageSize { get; }

    /// <summary>Bytes (framed messages) queued by <see cref="SendAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> and not yet handed to the QUIC stream.</summary>
    public long BufferedAmount => Interlocked.Read(ref _buffered);

    /// <summary>The channel opened (only for channels we open; incoming channels arrive open).</summary>
    public event Action? OnOpen;

    /// <summary>A close started (by us or by the peer's FIN).</summary>
    public event Action? OnClosing;

    /// <summary>The channel is closed (after <see cref="OnError"/> when it failed).</summary>
    public event Action? OnClose;

    /// <summary>The channel failed: stream reset, protocol error, connection closed.</summary>
    public event Action<OspException>? OnError;

    /// <summary>Completes when the channel is open; fails if it never opens.</summary>
    public Task WaitOpenAsync(CancellationToken cancellationToken = default) => _opened.Task.WaitAsync(cancellationToken);

    /// <summary>Completes when the channel is closed (cleanly or not).</summary>
    public Task Completion => _closed.Task;

    /// <summary>Why the channel failed, if it did.</summary>
    public OspException? Error => Volatile.Read(ref _error);

    /// <summary>Opens a channel on <paramref name="connection"/> and waits for the peer's response.</summary>
    internal static async Task<LP2PDataChannel> OpenAsync(OspConnection connection, string label, LP2PDataChannelInit? init, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(label);
        init ??= new LP2PDataChannelInit();
        if (init.Id is 65535) throw new ArgumentOutOfRangeException(nameof(init), "channel ids are 0..65534");
        cancellationToken.ThrowIfCancellationRequested();
        if (!connection.IsAuthenticated)
        {
            throw new OspException(OspError.Refused, $"opening data channel '{label}': the connection to {connection.RemoteEndPoint} is not authenticated");
        }

        if (connection.Closed.IsCompleted)
        {
            long code = connection.Closed.Result;
            throw new OspException(connection.ErrorForClose(code), connection.IsNotTrustedByPeer ? $"opening data channel '{label}': {connection.NotTrustedByPeerMessage}" : $"opening data channel '{label}': the connection is closed (application error {code})", null, code);
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(connection.Options.DataChannelOpenTimeout);
        QuicStream stream;
        try
        {
            stream = await connection.Quic.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
            throw OpenFailure(connection, label, ex, "no stream credit", cancellationToken);
        }

        var channel = new LP2PDataChannel(connection, stream, label, init.Protocol, init.Id ?? connection.NextChannelId(), locallyOpened: true);
        channel._requestId = connection.NextRequestId();
        channel._sendQueue.Writer.TryWrite(Frame.Unpooled(OspFraming.Frame(new DataChannelOpenRequest
        {
            RequestId = channel._requestId,
            ChannelId = channel.Id,
            Label = label,
            Protocol = init.Protocol,
        })));
        channel.Start(accepted: false);
        try
        {
            await channel._opened.Task.WaitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or OspException)
        {
            var failure = ex as OspException ?? OpenFailure(connection, label, ex, "no response", cancellationToken);
            channel.Abort(failure as OspException ?? new OspException(OspError.Closed, $"opening data channel '{label}': canceled", ex));
            if (ex is OspException) throw;
            throw failure;
        }

        return channel;
    }

    private static Exception OpenFailure(OspConnection connection, string label, Exception ex, string what, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return new OperationCanceledException($"opening data channel '{label}': canceled", ex, cancellationToken);
        if (connection.Closed.IsCompleted)
        {
            long code = connection.Closed.Result;
            return new OspException(connection.ErrorForClose(code), connection.IsNotTrustedByPeer ? $"opening data channel '{label}': {connection.NotTrustedByPeerMessage}" : $"opening data channel '{label}': the connection was closed (application error {code})", ex, code);
        }

        if (ex is QuicException q) return OspErrors.FromQuic(q, $"opening data channel '{label}'");
        return new OspException(OspError.Timeout, $"opening data channel '{label}': {what} from {connection.RemoteEndPoint} within {connection.Options.DataChannelOpenTimeout.TotalSeconds:0.#} s", ex);
    }

    /// <summary>An accepted channel (the connection's loop decided); <see cref="Start"/> sends the success response.</summary>
    internal static LP2PDataChannel CreateAccepted(OspConnection connection, QuicStream stream, DataChannelOpenRequest request)
    {
        var channel = new LP2PDataChannel(connection, stream, request.Label, request.Protocol, (ushort)Math.Min(request.ChannelId, 65534), locallyOpened: false)
        {
            _requestId = request.RequestId,
        };
        return channel;
    }

    /// <summary>Starts the reader and the writer. Accepted channels queue the success response first and are open at once.</summary>
    internal void Start(bool accepted)
    {
        if (accepted)
        {
            _sendQueue.Writer.TryWrite(Frame.Unpooled(OspFraming.Frame(new DataChannelOpenResponse { RequestId = _requestId, Result = Result.Success })));
            Volatile.Write(ref _state, (int)MessageChannelState.Open);
            _opened.TrySetResult();
        }

        _connectionClosed = _connection.ClosingToken.UnsafeRegister(static s =>
        {
            var channel = (LP2PDataChannel)s!;
            channel.OnConnectionClosed(channel._connection.Closed.IsCompleted ? channel._connection.Closed.Result : OspConnection.NoErrorCode);
        }, this);
        _ = RaiseEventsAsync();
        _ = WriteLoopAsync();
        _ = ReadLoopAsync();
    }

    /// <summary>Refuses an open request (response with <paramref name="result"/>, then FIN); the channel never opens.</summary>
    internal void Refuse(Result result)
    {
        Volatile.Write(ref _state, (int)MessageChannelState.Closed);
        _ = RefuseAsync(result);
    }

    private async Task RefuseAsync(Result result)
    {
        using var limit = new CancellationTokenSource(_connection.Options.StallTimeout);
        try
        {
            await _stream.WriteAsync(OspFraming.Frame(new DataChannelOpenResponse { RequestId = _requestId, Result = result }), completeWrites: true, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
            _closed.TrySetResult();
        }
    }

    /// <summary>Sends a text message (encoding-id string).</summary>
    /// <exception cref="OspException">The channel is not open (<see cref="OspError.Closed"/>).</exception>
    public ValueTask SendAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SendAsync(Encoding.UTF8.GetBytes(text), isText: true, cancellationToken);
    }

    /// <summary>
    /// Queues one message (the bytes are copied) and completes once it is queued; waits first while
    /// <see cref="BufferedAmount"/> plus this message would exceed <see cref="OspAgentOptions.DataChannelSendBufferLimit"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The message is larger than <see cref="MaxMessageSize"/>.</exception>
    /// <exception cref="OspException">The channel is not open or failed (<see cref="OspError.Closed"/>, or its error).</exception>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default)
    {
        if (data.Length > MaxMessageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(data), $"message of {data.Length} bytes exceeds the channel's {MaxMessageSize}");
        }

        ThrowIfNotOpen("sending");
        Frame frame = EncodePooled(isText ? (ulong)DataChannelEncodingId.String : (ulong)DataChannelEncodingId.ArrayBuffer, data.Span);
        bool queued = false;
        try
        {
            await AdmitAsync(frame, cancellationToken).ConfigureAwait(false);
            queued = true;
        }
        finally
        {
            if (!queued) ArrayPool<byte>.Shared.Return(frame.Bytes);
        }
    }

    /// <inheritdoc/>
    public int SendHeaderRoom => LP2PDataFrameCodec.MaxHeaderLength;

    /// <summary>
    /// Queues one message that is already in a pooled array, without copying it: the data-frame header is written into
    /// the room in front of the message and the array goes to the QUIC stream as it is, then back to
    /// <see cref="ArrayPool{T}.Shared"/>. The channel owns <paramref name="buffer"/> from the call on, whatever the outcome.
    /// Waits like <see cref="SendAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> while the send buffer is full.
    /// </summary>
    /// <param name="buffer">An array rented from <see cref="ArrayPool{T}.Shared"/>.</param>
    /// <param name="offset">Where the message starts; at least <see cref="SendHeaderRoom"/>.</param>
    /// <param name="length">The message's length in bytes.</param>
    /// <param name="isText">True for a text (UTF-8) message.</param>
    /// <param name="cancellationToken">Stops waiting for room in the send buffer (the message is then not sent).</param>
    /// <exception cref="ArgumentOutOfRangeException">The message is larger than <see cref="MaxMessageSize"/>, or the room or range is wrong.</exception>
    /// <exception cref="OspException">The channel is not open or failed (<see cref="OspError.Closed"/>, or its error).</exception>
    public async ValueTask SendPooledAsync(byte[] buffer, int offset, int length, bool isText, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        // Argument errors leave the array to the collector (it may not be a pool's array); everything else returns it.
        if (offset < 0 || length < 0 || length > buffer.Length - offset) throw new ArgumentOutOfRangeException(nameof(length), $"range {offset}+{length} outside the buffer of {buffer.Length} bytes");
        if (length > MaxMessageSize) throw new ArgumentOutOfRangeException(nameof(length), $"message of {length} bytes exceeds the channel's {MaxMessageSize}");
        int header = LP2PDataFrameCodec.HeaderLength(length);
        if (offset < header) throw new ArgumentOutOfRangeException(nameof(offset), $"{offset} bytes of room in front of the message, the header needs {header}");
        bool queued = false;
        try
        {
            ThrowIfNotOpen("sending");
            LP2PDataFrameCodec.WriteHeader(buffer.AsSpan(offset - header, header), isText ? (ulong)DataChannelEncodingId.String : (ulong)DataChannelEncodingId.ArrayBuffer, length);
            await AdmitAsync(new Frame(buffer, offset - header, header + length, Counted: true, Pooled: true), cancellationToken).ConfigureAwait(false);
            queued = true;
        }
        finally
        {
            if (!queued) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Tests: queues bytes for the stream as they are (behind what is queued), e.g. frames of unusual shapes.</summary>
    internal bool TryQueueRawForTests(byte[] bytes) => _sendQueue.Writer.TryWrite(Frame.Unpooled(bytes));

    /// <summary>Encodes a data-frame into a pooled array (returned by the write loop once QUIC took the bytes): one copy of the payload.</summary>
    private static Frame EncodePooled(ulong encodingId, ReadOnlySpan<byte> payload)
    {
        byte[] bytes = ArrayPool<byte>.Shared.Rent(LP2PDataFrameCodec.EncodedLength(payload.Length));
        int length = LP2PDataFrameCodec.Encode(bytes, encodingId, payload);
        return new Frame(bytes, 0, length, Counted: true, Pooled: true);
    }

    private async ValueTask AdmitAsync(Frame frame, CancellationToken cancellationToken)
    {
        await _admission.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                Task drained = Volatile.Read(ref _drained).Task; // taken before the check: a drain after it completes this task
                Interlocked.Exchange(ref _sendersWaiting, 1); // before the check: a drain after it sees the flag
                ThrowIfNotOpen("sending");
                long buffered = Interlocked.Read(ref _buffered);
                if (buffered == 0 || buffered + frame.Length <= _sendLimit) break;
                await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            Interlocked.Add(ref _buffered, frame.Length);
            if (!_sendQueue.Writer.TryWrite(frame))
            {
                Interlocked.Add(ref _buffered, -frame.Length);
                ThrowIfNotOpen("sending");
                throw new OspException(OspError.Closed, $"sending on data channel '{Label}': the channel is closing");
            }
        }
        finally
        {
            _admission.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (await _received.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_received.Reader.TryRead(out ChannelMessage m)) return m;
        }

        return null;
    }

    /// <summary>Receives messages until the channel closes.</summary>
    public IAsyncEnumerable<ChannelMessage> ReadAllAsync(CancellationToken cancellationToken = default) => _received.Reader.ReadAllAsync(cancellationToken);

    /// <summary>
    /// Closes the channel: what is queued is written, then our FIN; completes when the peer's FIN arrived too (or the
    /// channel failed). <paramref name="cancellationToken"/> stops waiting, not the close.
    /// </summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        BeginLocalClose();
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes (waiting up to <see cref="OspAgentOptions.StallTimeout"/> for the peer's FIN), then aborts the stream if needed.</summary>
    public async ValueTask DisposeAsync()
    {
        BeginLocalClose();
        try
        {
            await _closed.Task.WaitAsync(_connection.Options.StallTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort(new OspException(OspError.Timeout, $"data channel '{Label}': the peer did not finish the close"));
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        _abort.Dispose();
        _admission.Dispose();
    }

    /// <summary>A text message's string (UTF-8).</summary>
    public static string GetText(ChannelMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    /// <inheritdoc/>
    public override string ToString() => $"LP2PDataChannel '{Label}' ({State}, stream {StreamId})";

    private void ThrowIfNotOpen(string what)
    {
        if (Volatile.Read(ref _error) is { } error)
        {
            throw new OspException(error.Error, $"{what} on data channel '{Label}': {error.Message}", error, error.ApplicationErrorCode);
        }

        if (State != MessageChannelState.Open)
        {
            throw new OspException(OspError.Closed, $"{what} on data channel '{Label}': the channel is {State.ToString().ToLowerInvariant()}");
        }
    }

    private void BeginLocalClose()
    {
        int previous = Interlocked.CompareExchange(ref _state, (int)MessageChannelState.Closing, (int)MessageChannelState.Open);
        if (previous == (int)MessageChannelState.Connecting)
        {
            Abort(new OspException(OspError.Closed, $"data channel '{Label}' closed before it opened"));
            return;
        }

        if (previous != (int)MessageChannelState.Open) return;
        Raise(OnClosing);
        _sendQueue.Writer.TryComplete(); // the writer flushes, then sends FIN
        WakeSenders();
    }

    /// <summary>The peer finished its side: if we are open, we answer with our FIN once our queue is flushed.</summary>
    private void OnRemoteFin()
    {
        Volatile.Write(ref _remoteFinSeen, 1);
        _received.Writer.TryComplete();
        if (Interlocked.CompareExchange(ref _state, (int)MessageChannelState.Closing, (int)MessageChannelState.Open) == (int)MessageChannelState.Open)
        {
            Raise(OnClosing);
            _sendQueue.Writer.TryComplete();
            WakeSenders();
        }

        MaybeClosed();
    }

    private void MaybeClosed()
    {
        if (Volatile.Read(ref _remoteFinSeen) == 0 || Volatile.Read(ref _localFinWritten) == 0) return;
        if (Interlocked.Exchange(ref _state, (int)MessageChannelState.Closed) == (int)MessageChannelState.Closed) return;
        _opened.TrySetException(new OspException(OspError.Closed, $"data channel '{Label}' closed"));
        Raise(OnClose);
        Finish();
    }

    /// <summary>Closed: stop listening to the connection, end the event queue.</summary>
    private void Finish()
    {
        _connectionClosed.Dispose();
        _events.Writer.TryComplete();
        _closed.TrySetResult();
    }

    private void OnConnectionClosed(long code)
    {
        if (State == MessageChannelState.Closed) return;
        Abort(new OspException(_connection.ErrorForClose(code), _connection.IsNotTrustedByPeer ? $"data channel '{Label}': {_connection.NotTrustedByPeerMessage}" : $"data channel '{Label}': the connection to {_connection.RemoteEndPoint} closed (application error {code})", null, code));
    }

    /// <summary>Error close: records the error, stops both loops, resets the stream, raises error and close.</summary>
    private void Abort(OspException error)
    {
        if (Interlocked.Exchange(ref _state, (int)MessageChannelState.Closed) == (int)MessageChannelState.Closed) return;
        Interlocked.CompareExchange(ref _error, error, null);
        _opened.TrySetException(error);
        _sendQueue.Writer.TryComplete();
        _received.Writer.TryComplete();
        WakeSenders();
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        if (!_connection.Closed.IsCompleted)
        {
            try
            {
                _stream.Abort(QuicAbortDirection.Both, OspConnection.ProtocolErrorCode);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
            {
            }
        }

        Raise(OnError, error);
        Raise(OnClose);
        Finish();
    }

    private void WakeSenders() => Interlocked.Exchange(ref _drained, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>The write loop drained bytes: wakes a waiting sender only if one may be waiting (no new task per message otherwise).</summary>
    private void WakeSendersAfterDrain()
    {
        if (Interlocked.Exchange(ref _sendersWaiting, 0) != 0) WakeSenders();
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        try
        {
            var reader = _sendQueue.Reader;
            while (await reader.WaitToReadAsync(_abort.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out Frame frame))
                {
                    if (frame.Length > CoalesceFrame || !reader.TryPeek(out Frame next) || next.Length > CoalesceFrame)
                    {
                        await WriteFrameAsync(frame).ConfigureAwait(false);
                        continue;
                    }

                    // Several small messages queued: one QUIC stream write (one hop into the connection's loop) for all.
                    byte[] batch = ArrayPool<byte>.Shared.Rent(CoalesceLimit);
                    int length = 0;
                    long counted = 0;
                    try
                    {
                        do
                        {
                            frame.Memory.Span.CopyTo(batch.AsSpan(length));
                            length += frame.Length;
                            if (frame.Counted) counted += frame.Length;
                            frame.Release();
                        }
                        while (reader.TryPeek(out next) && next.Length <= CoalesceFrame && length + next.Length <= CoalesceLimit && reader.TryRead(out frame));

                        await _stream.WriteAsync(batch.AsMemory(0, length), _abort.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(batch);
                    }

                    if (counted > 0)
                    {
                        Interlocked.Add(ref _buffered, -counted);
                        WakeSendersAfterDrain();
                    }
                }
            }

            if (State == MessageChannelState.Closed) return;
            await _stream.WriteAsync(ReadOnlyMemory<byte>.Empty, completeWrites: true, _abort.Token).ConfigureAwait(false);
            Volatile.Write(ref _localFinWritten, 1);
            MaybeClosed();
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            StreamFailed(ex, "writing");
        }
    }

    /// <summary>
    /// Reads the stream. A data-frame of the usual shape (<see cref="LP2PDataFrameCodec.TryReadHeader"/>) is parsed from
    /// its header, and its payload is read from the stream straight into a pooled array of the payload's size — the only
    /// copy on the receive side, as on a bare QUIC stream; after a large payload the next read asks for a header's worth
    /// only, so the next payload goes straight into its array too. Anything else (the open response, unusual shapes,
    /// errors) goes through the message demuxer, which then takes every byte until it holds no partial message.
    /// </summary>
    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        MessageStream? demux = null;
        var received = new List<LP2PDataFrameCodec.Inbound>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadBuffer);
        int start = 0, end = 0;
        bool probe = false; // the last payload was large: read only a header's worth before the next payload
        bool grow = false; // the last read filled the buffer
        try
        {
            while (true)
            {
                if (start < end)
                {
                    ulong encodingId = 0;
                    int headerLength = 0;
                    long payloadLength = 0;
                    LP2PDataFrameCodec.HeaderStatus status = demux is { HasPartialMessage: true }
                        ? LP2PDataFrameCodec.HeaderStatus.NotSimple
                        : LP2PDataFrameCodec.TryReadHeader(buffer.AsSpan(start, end - start), out encodingId, out headerLength, out payloadLength);
                    if (status == LP2PDataFrameCodec.HeaderStatus.Ok)
                    {
                        if (payloadLength > MaxMessageSize)
                        {
                            ProtocolViolation(OspConnection.ProtocolErrorCode, $"message of {payloadLength} bytes exceeds {MaxMessageSize}");
                            return;
                        }

                        start += headerLength;
                        byte[]? payload = await ReadPayloadAsync(buffer, start, end - start, (int)payloadLength).ConfigureAwait(false);
                        if (payload is null) return;
                        start = Math.Min(end, start + (int)payloadLength);
                        probe = payloadLength >= ReadBuffer;
                        if (!await DeliverAsync(new LP2PDataFrameCodec.Inbound(null, payload, (int)payloadLength, encodingId)).ConfigureAwait(false)) return;
                        continue;
                    }

                    if (status == LP2PDataFrameCodec.HeaderStatus.NotSimple)
                    {
                        demux ??= CreateDemuxer();
                        DemuxResult result = LP2PDataFrameCodec.Demux(demux, buffer.AsMemory(start, end - start), false, received);
                        start = end;
                        probe = false;
                        if (!await DeliverAllAsync(received).ConfigureAwait(false)) return;
                        if (!result.IsOk)
                        {
                            ProtocolViolation(result);
                            return;
                        }

                        continue;
                    }

                    // NeedMore: keep the partial header and read on.
                }

                if (start == end)
                {
                    start = end = 0;
                }
                else if (start > 0)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                if (end == buffer.Length || (grow && buffer.Length < MaxReadBuffer))
                {
                    // A busy channel of messages smaller than the buffer (the last read filled it): read in larger
                    // pieces (each read is a hop into the QUIC connection's loop). Idle and chat channels keep 16 KiB.
                    byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 4, MaxReadBuffer));
                    buffer.AsSpan(0, end).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                int want = probe ? Math.Min(buffer.Length - end, HeaderProbe) : buffer.Length - end;
                int n = await _stream.ReadAsync(buffer.AsMemory(end, want), _abort.Token).ConfigureAwait(false);
                grow = n == want && !probe;
                if (n > 0)
                {
                    end += n;
                    continue;
                }

                // FIN: staged bytes are an incomplete message; the demuxer reports them (or an incomplete one it holds).
                demux ??= CreateDemuxer();
                if (start < end)
                {
                    DemuxResult staged = LP2PDataFrameCodec.Demux(demux, buffer.AsMemory(start, end - start), false, received);
                    start = end;
                    if (!await DeliverAllAsync(received).ConfigureAwait(false)) return;
                    if (!staged.IsOk)
                    {
                        ProtocolViolation(staged);
                        return;
                    }
                }

                DemuxResult last = LP2PDataFrameCodec.Demux(demux, ReadOnlyMemory<byte>.Empty, true, received);
                if (!await DeliverAllAsync(received).ConfigureAwait(false)) return;
                if (!last.IsOk)
                {
                    ProtocolViolation(last);
                    return;
                }

                if (State == MessageChannelState.Connecting)
                {
                    Abort(new OspException(OspError.Refused, $"data channel '{Label}': the peer finished the stream without answering"));
                    return;
                }

                OnRemoteFin();
                return;
            }
        }
        catch (Exception ex) when (ex is QuicException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or ChannelClosedException)
        {
            StreamFailed(ex, "reading");
        }
        finally
        {
            demux?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Fills a pooled array with a payload of <paramref name="length"/> bytes: the <paramref name="staged"/> bytes
    /// already read at <paramref name="offset"/> of <paramref name="buffer"/>, the rest read from the stream straight into
    /// the array. Null when the stream ended inside the payload (the channel failed; the array went back).
    /// </summary>
    private async ValueTask<byte[]?> ReadPayloadAsync(byte[] buffer, int offset, int staged, int length)
    {
        byte[] payload = length == 0 ? [] : ArrayPool<byte>.Shared.Rent(length);
        int filled = Math.Min(staged, length);
        buffer.AsSpan(offset, filled).CopyTo(payload);
        bool done = false;
        try
        {
            while (filled < length)
            {
                int n = await _stream.ReadAsync(payload.AsMemory(filled, length - filled), _abort.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    ProtocolViolation(OspConnection.ProtocolErrorCode, $"the stream ended inside a data-frame ({filled} of {length} payload bytes)");
                    return null;
                }

                filled += n;
            }

            done = true;
            return payload;
        }
        finally
        {
            if (!done) LP2PDataFrameCodec.Return(payload);
        }
    }

    /// <summary>First read buffer of a channel (and the payload size from which the next read only probes a header).</summary>
    private const int ReadBuffer = 16 << 10;

    /// <summary>Bytes read after a large payload: a data-frame header fits, so the next payload is read into its own array.</summary>
    private const int HeaderProbe = 64;

    /// <summary>Largest read buffer of a busy channel (see the read loop).</summary>
    private const int MaxReadBuffer = 256 << 10;

    /// <summary>Delivers what one read completed and clears the list; false when the channel ended (the rest is returned).</summary>
    private async ValueTask<bool> DeliverAllAsync(List<LP2PDataFrameCodec.Inbound> received)
    {
        for (int i = 0; i < received.Count; i++)
        {
            if (!await DeliverAsync(received[i]).ConfigureAwait(false))
            {
                for (int k = i + 1; k < received.Count; k++) ReturnPayload(received[k]);
                received.Clear();
                return false;
            }
        }

        received.Clear();
        return true;
    }

    private static void ReturnPayload(LP2PDataFrameCodec.Inbound inbound)
    {
        if (inbound.Payload is { } payload) LP2PDataFrameCodec.Return(payload);
    }

    /// <summary>Handles one message from the peer (a pooled payload is handed on or returned); false when the channel ended.</summary>
    private async ValueTask<bool> DeliverAsync(LP2PDataFrameCodec.Inbound inbound)
    {
        bool handedOn = false;
        try
        {
            handedOn = await DeliverCoreAsync(inbound).ConfigureAwait(false);
            return handedOn || State != MessageChannelState.Closed;
        }
        finally
        {
            if (!handedOn) ReturnPayload(inbound);
        }
    }

    /// <summary>True when the payload went into the receive queue (the receiver owns it now).</summary>
    private async ValueTask<bool> DeliverCoreAsync(LP2PDataFrameCodec.Inbound inbound)
    {
        if (inbound.Error is { } malformed)
        {
            ProtocolViolation(OspConnection.ProtocolErrorCode, $"malformed data-frame: {malformed}");
            return false;
        }

        IOspMessage? message = inbound.Message;
        if (State == MessageChannelState.Connecting)
        {
            if (message is null)
            {
                ProtocolViolation(OspConnection.ProtocolErrorCode, "expected data-channel-open-response, got data-frame");
                return false;
            }

            if (_locallyOpened && message is DataChannelOpenResponse response && response.RequestId == _requestId)
            {
                if (response.Result != Result.Success)
                {
                    Abort(new OspException(OspError.Refused, $"data channel '{Label}': the peer refused it ({response.Result})"));
                    return false;
                }

                if (Interlocked.CompareExchange(ref _state, (int)MessageChannelState.Open, (int)MessageChannelState.Connecting) == (int)MessageChannelState.Connecting)
                {
                    _opened.TrySetResult();
                    Raise(OnOpen);
                }

                return false;
            }

            ProtocolViolation(OspConnection.ProtocolErrorCode, $"expected data-channel-open-response, got {message.Name}");
            return false;
        }

        if (message is not null)
        {
            ProtocolViolation(OspConnection.ProtocolErrorCode, $"expected data-frame, got {message.Name}");
            return false;
        }

        if (inbound.Length > MaxMessageSize)
        {
            ProtocolViolation(OspConnection.ProtocolErrorCode, $"message of {inbound.Length} bytes exceeds {MaxMessageSize}");
            return false;
        }

        // A full queue waits here: the stream is not read, so QUIC flow control holds the peer back.
        var received = new ChannelMessage(inbound.Payload.AsMemory(0, inbound.Length), inbound.EncodingId == (ulong)DataChannelEncodingId.String);
        if (!_received.Writer.TryWrite(received)) await _received.Writer.WriteAsync(received, _abort.Token).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Hands back the payload of a message returned by <see cref="ReceiveAsync"/>: received payloads live in pooled
    /// arrays, and one handed back is reused for a later message (no allocation per message). Call at most once per
    /// message and do not touch its <see cref="ChannelMessage.Data"/> afterwards; a receiver that never calls this is
    /// correct too (the array is simply collected).
    /// </summary>
    public void Release(ChannelMessage message)
    {
        if (MemoryMarshal.TryGetArray(message.Data, out ArraySegment<byte> segment) && segment.Array is { } array) LP2PDataFrameCodec.Return(array);
    }

    /// <summary>The demuxer's error as a protocol violation (an unknown type key has its own error code).</summary>
    private void ProtocolViolation(DemuxResult result) => ProtocolViolation(
        result.Status == DemuxStatus.UnknownTypeKey ? OspFraming.UnknownTypeKeyErrorCode : OspConnection.ProtocolErrorCode,
        result.Detail ?? result.Status.ToString());

    /// <summary>The message demuxer for what the header fast path does not take (created on first need).</summary>
    private MessageStream CreateDemuxer() => LP2PDataFrameCodec.Demuxer(_connection.Options.DataChannelMaxMessageSize + 64).CreateStream();

    private void ProtocolViolation(long code, string detail)
    {
        Abort(new OspException(OspError.ProtocolError, $"data channel '{Label}': {detail}", null, code));
        _connection.Fail(code);
    }

    private void StreamFailed(Exception ex, string what)
    {
        if (State == MessageChannelState.Closed) return;
        if (_connection.Closed.IsCompleted)
        {
            OnConnectionClosed(_connection.Closed.Result);
            return;
        }

        Abort(ex is QuicException q
            ? OspErrors.FromQuic(q, $"{what} data channel '{Label}'")
            : new OspException(OspError.Closed, $"{what} data channel '{Label}': {ex.Message}", ex));
    }

    // Events go through one queue per channel, raised in order on a pool thread (never on the caller's or the connection's loop).
    private void Raise(Action? handler)
    {
        if (handler is not null) _events.Writer.TryWrite(handler);
    }

    private void Raise(Action<OspException>? handler, OspException error)
    {
        if (handler is not null) _events.Writer.TryWrite(() => handler(error));
    }

    private async Task RaiseEventsAsync()
    {
        await Task.Yield();
        await foreach (Action raise in _events.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                raise();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // An application handler failed: the channel goes on (as DOM event listeners do).
                _ = ex;
            }
        }
    }

    private async ValueTask WriteFrameAsync(Frame frame)
    {
        try
        {
            await _stream.WriteAsync(frame.Memory, _abort.Token).ConfigureAwait(false);
        }
        finally
        {
            frame.Release(); // QUIC copied the bytes (or the write failed): the array is free again
        }

        if (frame.Counted)
        {
            Interlocked.Add(ref _buffered, -frame.Length);
            WakeSendersAfterDrain();
        }
    }

    /// <summary>Queued small messages up to this size are written to the stream together.</summary>
    private const int CoalesceFrame = 16 << 10;

    /// <summary>Largest coalesced write.</summary>
    private const int CoalesceLimit = 64 << 10;

    /// <summary>A framed message waiting for the write loop: <see cref="Length"/> bytes of <see cref="Bytes"/> from <see cref="Offset"/> (a pooled array when <see cref="Pooled"/>).</summary>
    private readonly record struct Frame(byte[] Bytes, int Offset, int Length, bool Counted, bool Pooled)
    {
        public static Frame Unpooled(byte[] bytes) => new(bytes, 0, bytes.Length, Counted: false, Pooled: false);

        public ReadOnlyMemory<byte> Memory => Bytes.AsMemory(Offset, Length);

        public void Release()
        {
            if (Pooled) ArrayPool<byte>.Shared.Return(Bytes);
        }
    }
}
