using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Streams;

/// <summary>
/// One PeerFetch exchange on its own bidirectional stream of an <see cref="IPeerFetchStreamConnection"/> (LP2P QUIC,
/// docs/peerfetch.md §2.6). The stream carries the v2 HEADERS and DATA frames with Stream Identifier 0; the stream
/// itself is the exchange, QUIC flow control replaces WINDOW_UPDATE, FIN ends a side (END_STREAM on a frame says only
/// FIN follows), RESET_STREAM/STOP_SENDING with the v2 error code replace RESET. No HELLO, PING or GOAWAY: the QUIC
/// connection has its own. Pull-based: body reads go straight from the stream into the caller's buffer; frames are
/// checked against the limits before anything is buffered.
/// </summary>
internal sealed class PeerFetchStreamExchange : IPeerFetchExchange, IAsyncDisposable
{
    /// <summary>Largest HEADERS payload accepted (v2's default MaxHeaderBlock).</summary>
    public const int MaxHeaderBlock = 64 << 10;

    /// <summary>Largest DATA payload accepted (v2's default MaxFramePayload).</summary>
    public const int MaxDataPayload = 256 << 10;

    /// <summary>Largest DATA payload we send: one buffer copy per frame, in the pool's 256 KiB bucket with its header
    /// (fewer frames: each costs the reader a separate 9-byte header read, a hop into the QUIC loop).</summary>
    private const int SendChunk = 255 << 10;

    /// <summary>
    /// Read-ahead for an exchange's small frames (heads, trailers, small bodies): one transport read takes up to this many
    /// bytes, so a small response — HEADERS, DATA, FIN — costs one read (one pass of the QUIC loop) instead of five
    /// (frame header, header block, frame header, body, FIN). Issue 11, session 16: 64 concurrent 1 KiB GETs. 2 KiB — a
    /// head and a 1 KiB body — and not 4: the shared pool's 4 KiB bucket already serves every QUIC stream's rings (four per
    /// request), and one more 4 KiB array per open exchange overflowed it into fresh arrays.
    /// </summary>
    internal const int ReadAhead = 2048;

    private readonly IPeerFetchDuplex _transport;
    private readonly ILogger _logger;
    private readonly byte[] _header = new byte[FrameHeader.Size];

    // Read-ahead (reader only: the head task, then the body reads, one at a time): bytes _rpos.._rlen of _rbuf are read
    // from the transport and not yet consumed. Rented at the first read; back to the pool once the peer's side ended
    // (nothing reads after that), else left to the GC (a reset may leave a transport read pending into it).
    private byte[]? _rbuf;
    private int _rpos, _rlen;

    // A DATA frame larger than the read-ahead was seen: a bulk body. Its frame headers are then read exactly (9 bytes), so
    // body bytes go straight from the stream into the reader's buffer, never through the read-ahead copy.
    private bool _bulk;
    private readonly object _gate = new();
    private Task<List<KeyValuePair<string, string>>> _head = null!;
    private long _dataLeft;
    private bool _endFlagSeen;
    private volatile bool _remoteEnded;
    private volatile bool _localEnded;
    private bool _released;
    private PeerFetchErrorCode? _resetCode;
    private Exception? _error;

    private PeerFetchStreamExchange(IPeerFetchDuplex transport, ILogger? logger)
    {
        _transport = transport;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Device side: a stream the peer opened; <see cref="Head"/> reads its request head.</summary>
    public static PeerFetchStreamExchange Accept(IPeerFetchDuplex transport, ILogger? logger)
    {
        var x = new PeerFetchStreamExchange(transport, logger);
        x._head = x.ReadHeadAsync();
        _ = x._head.Exception; // observed: the caller awaits Head, or the exchange is reset
        return x;
    }

    /// <summary>Client side: opens a stream, sends the request head (END_STREAM and FIN when there is no body).</summary>
    public static async Task<PeerFetchStreamExchange> OpenAsync(IPeerFetchStreamConnection connection, IReadOnlyList<KeyValuePair<string, string>> head, bool endStream, ILogger? logger, CancellationToken cancellationToken)
    {
        // The HEADERS frame (END_STREAM and FIN when there is no body) goes with the stream's opening: one call, one pass
        // of the QUIC loop, one packet (issue 11, session 17; was open, then write).
        byte[] buffer = RentHeadersFrame(head, endStream, 0, out int length);
        IPeerFetchDuplex transport;
        try
        {
            transport = await connection.OpenStreamAsync(buffer.AsMemory(0, length), endStream, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException && ex is not PeerFetchException)
        {
            throw new PeerFetchException(PeerFetchError.ChannelClosed, "cannot open a stream: " + ex.Message, ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        var x = new PeerFetchStreamExchange(transport, logger);
        if (endStream) x._localEnded = true;
        x._head = x.ReadHeadAsync();
        _ = x._head.Exception;
        return x;
    }

    /// <inheritdoc/>
    public Task<List<KeyValuePair<string, string>>> Head => _head;

    /// <inheritdoc/>
    public List<KeyValuePair<string, string>>? Trailers { get; private set; }

    /// <inheritdoc/>
    public bool RemoteEnded => _remoteEnded;

    /// <inheritdoc/>
    public bool HeadEndedStream { get; private set; }

    /// <summary>Our side ended (FIN sent, or the exchange was reset).</summary>
    public bool LocalEnded => _localEnded;

    /// <inheritdoc/>
    public bool IsComplete => _remoteEnded && _localEnded && _resetCode is null && _error is null;

    // ------------------------------------------------------------------------------------------------ reading

    private async Task<List<KeyValuePair<string, string>>> ReadHeadAsync()
    {
        while (true)
        {
            if (!await ReadFrameHeaderAsync(CancellationToken.None).ConfigureAwait(false))
                throw Protocol(PeerFetchErrorCode.ProtocolError, "the stream ended before a head");
            var h = ParseHeader();
            switch (h.Type)
            {
                case FrameType.Headers:
                    var fields = await ReadHeaderBlockAsync(h).ConfigureAwait(false);
                    if ((h.Flags & FrameFlags.EndStream) != 0) { _endFlagSeen = true; HeadEndedStream = true; MarkRemoteEnded(); }
                    return fields;
                case FrameType.Data or FrameType.Reset or FrameType.Hello or FrameType.Ping or FrameType.GoAway or FrameType.WindowUpdate:
                    throw Protocol(PeerFetchErrorCode.ProtocolError, $"{h.Type} frame before the head");
                default:
                    await SkipAsync(h.Length).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_error is { } e) throw e as PeerFetchException ?? new PeerFetchException(PeerFetchError.StreamReset, e.Message, e);
        await _head.ConfigureAwait(false);
        while (true)
        {
            if (_dataLeft > 0)
            {
                if (buffer.IsEmpty) return 0;
                int n = await ReadSomeAsync(buffer[..(int)Math.Min(buffer.Length, _dataLeft)], readAhead: false, cancellationToken).ConfigureAwait(false);
                if (n == 0) throw Protocol(PeerFetchErrorCode.FrameSizeError, "the stream ended inside a DATA frame");
                _dataLeft -= n;
                return n;
            }
            if (_remoteEnded || buffer.IsEmpty) return 0;
            if (_endFlagSeen)
            {
                // The last frame carried END_STREAM: only FIN may follow.
                await ExpectFinAsync(cancellationToken).ConfigureAwait(false);
                return 0;
            }
            if (!await ReadFrameHeaderAsync(cancellationToken).ConfigureAwait(false))
            {
                MarkRemoteEnded();
                return 0;
            }
            var h = ParseHeader();
            bool end = (h.Flags & FrameFlags.EndStream) != 0;
            switch (h.Type)
            {
                case FrameType.Data:
                    if (h.Length > MaxDataPayload) throw Protocol(PeerFetchErrorCode.FrameSizeError, $"DATA frame of {h.Length} bytes (max {MaxDataPayload})");
                    _dataLeft = h.Length;
                    _endFlagSeen = end;
                    if (h.Length > ReadAhead) _bulk = true;
                    break;
                case FrameType.Headers:
                    Trailers = await ReadHeaderBlockAsync(h).ConfigureAwait(false);
                    await ExpectFinAsync(cancellationToken).ConfigureAwait(false);
                    return 0;
                case FrameType.Reset or FrameType.Hello or FrameType.Ping or FrameType.GoAway or FrameType.WindowUpdate:
                    throw Protocol(PeerFetchErrorCode.ProtocolError, $"{h.Type} frame on a QUIC request stream");
                default:
                    await SkipAsync(h.Length).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>After END_STREAM or trailers only FIN may follow.</summary>
    private async ValueTask ExpectFinAsync(CancellationToken cancellationToken)
    {
        int n = await ReadSomeAsync(_header.AsMemory(0, 1), readAhead: true, cancellationToken).ConfigureAwait(false);
        if (n != 0) throw Protocol(PeerFetchErrorCode.ProtocolError, "bytes after the end of the stream");
        MarkRemoteEnded();
    }

    private FrameHeader ParseHeader()
    {
        var b = _header;
        int length = (b[0] << 16) | (b[1] << 8) | b[2];
        uint id = (uint)((b[5] << 24) | (b[6] << 16) | (b[7] << 8) | b[8]) & 0x7fff_ffffu;
        if (id != 0) throw Protocol(PeerFetchErrorCode.ProtocolError, "a frame on a QUIC request stream with a stream id");
        return new FrameHeader(length, (FrameType)b[3], (FrameFlags)b[4], 0);
    }

    private async Task<List<KeyValuePair<string, string>>> ReadHeaderBlockAsync(FrameHeader h)
    {
        if (h.Length > MaxHeaderBlock) throw Protocol(PeerFetchErrorCode.FrameSizeError, $"header block of {h.Length} bytes (max {MaxHeaderBlock})");
        // HeadersFrame checks a v2 channel's stream id; on QUIC the stream is the exchange, so present it as stream 1.
        if (_rlen - _rpos >= h.Length)
        {
            // The whole block came with the read-ahead (the usual head): parsed where it lies.
            var block = _rbuf.AsSpan(_rpos, h.Length);
            _rpos += h.Length;
            return HeadersFrame.TryRead(h with { StreamId = 1 }, block, out var parsed) ? parsed : throw Protocol(PeerFetchErrorCode.ProtocolError, "malformed HEADERS");
        }
        byte[] payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, h.Length));
        try
        {
            if (!await ReadExactAsync(payload.AsMemory(0, h.Length), CancellationToken.None).ConfigureAwait(false))
                throw Protocol(PeerFetchErrorCode.FrameSizeError, "the stream ended inside a HEADERS frame");
            if (!HeadersFrame.TryRead(h with { StreamId = 1 }, payload.AsSpan(0, h.Length), out var fields))
                throw Protocol(PeerFetchErrorCode.ProtocolError, "malformed HEADERS");
            return fields;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    /// <summary>Reads a whole frame header; false on FIN exactly at a frame boundary.</summary>
    private async ValueTask<bool> ReadFrameHeaderAsync(CancellationToken cancellationToken)
    {
        int got = 0;
        while (got < FrameHeader.Size)
        {
            int n = await ReadSomeAsync(_header.AsMemory(got), readAhead: !_bulk, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (got == 0) return false;
                throw Protocol(PeerFetchErrorCode.FrameSizeError, "the stream ended inside a frame header");
            }
            got += n;
        }
        return true;
    }

    private async ValueTask<bool> ReadExactAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int n = await ReadSomeAsync(buffer, readAhead: false, cancellationToken).ConfigureAwait(false);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }

    /// <summary>Skips an unknown frame's payload without buffering it.</summary>
    private async ValueTask SkipAsync(int length)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(length, 1), 16 << 10));
        try
        {
            while (length > 0)
            {
                int n = await ReadSomeAsync(scratch.AsMemory(0, Math.Min(length, scratch.Length)), readAhead: false, CancellationToken.None).ConfigureAwait(false);
                if (n == 0) throw Protocol(PeerFetchErrorCode.FrameSizeError, "the stream ended inside a frame");
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Reads into <paramref name="buffer"/>: read-ahead bytes first; else, with <paramref name="readAhead"/> and a small
    /// buffer, one transport read of up to <see cref="ReadAhead"/> bytes into the read-ahead; else straight from the
    /// transport. 0 at the peer's FIN.
    /// </summary>
    private ValueTask<int> ReadSomeAsync(Memory<byte> buffer, bool readAhead, CancellationToken cancellationToken)
    {
        if (_rpos < _rlen)
        {
            int n = Math.Min(buffer.Length, _rlen - _rpos);
            _rbuf.AsSpan(_rpos, n).CopyTo(buffer.Span);
            _rpos += n;
            return new ValueTask<int>(n);
        }
        if (!readAhead || buffer.Length >= ReadAhead || buffer.IsEmpty) return TransportReadAsync(buffer, cancellationToken);
        return FillAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> FillAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        _rbuf ??= ArrayPool<byte>.Shared.Rent(ReadAhead);
        _rpos = _rlen = 0;
        int got = await TransportReadAsync(_rbuf.AsMemory(0, ReadAhead), cancellationToken).ConfigureAwait(false);
        int n = Math.Min(buffer.Length, got);
        _rbuf.AsSpan(0, n).CopyTo(buffer.Span);
        _rpos = n;
        _rlen = got;
        return n;
    }

    private async ValueTask<int> TransportReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await _transport.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException && ex is not PeerFetchException)
        {
            // The peer reset its side or the connection closed: the exchange is over both ways.
            var error = new PeerFetchException(PeerFetchError.StreamReset, "the exchange was reset: " + ex.Message, ex);
            lock (_gate) _error ??= error;
            Abort(PeerFetchErrorCode.Cancel, byPeer: true);
            throw error;
        }
    }

    private PeerFetchException Protocol(PeerFetchErrorCode code, string message)
    {
        var error = new PeerFetchException(PeerFetchError.Protocol, message);
        if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("peerfetch quic stream: {Error}", message);
        lock (_gate) _error ??= error;
        Reset(code);
        return error;
    }

    private void MarkRemoteEnded()
    {
        // Called by the reader only, at the end of the peer's side: nothing reads after this, the read-ahead goes back.
        if (_rbuf is { } rbuf)
        {
            _rbuf = null;
            _rpos = _rlen = 0;
            ArrayPool<byte>.Shared.Return(rbuf);
        }
        _remoteEnded = true;
        if (_localEnded) Release();
    }

    // ------------------------------------------------------------------------------------------------ writing

    /// <summary>
    /// A pooled buffer holding the HEADERS frame of <paramref name="fields"/> (header block limit checked first) and room
    /// for <paramref name="extra"/> bytes after it; <paramref name="headersLength"/> is the frame's length. The caller returns the buffer.
    /// </summary>
    private static byte[] RentHeadersFrame(IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream, int extra, out int headersLength)
    {
        int block = HeadersFrame.PayloadLength(fields);
        if (block > MaxHeaderBlock) throw new PeerFetchException(PeerFetchError.LimitExceeded, "header block too long");
        headersLength = FrameHeader.Size + block;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(headersLength + extra);
        HeadersFrame.Write(buffer, 0, fields, endStream, block);
        return buffer;
    }

    /// <inheritdoc/>
    public ValueTask SendHeadersAsync(IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream, CancellationToken cancellationToken)
        => SendHeadAndBodyAsync(fields, ReadOnlyMemory<byte>.Empty, endStream, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask SendHeadAndBodyAsync(IReadOnlyList<KeyValuePair<string, string>> fields, ReadOnlyMemory<byte> body, bool endStream, CancellationToken cancellationToken)
    {
        if (body.Length > SendChunk)
        {
            await SendHeadAndBodyAsync(fields, ReadOnlyMemory<byte>.Empty, endStream: false, cancellationToken).ConfigureAwait(false);
            await WriteAsync(body, endStream, cancellationToken).ConfigureAwait(false);
            return;
        }
        // HEADERS, then (with a body) one DATA frame — the same frames as SendHeadersAsync + WriteAsync — in one pooled
        // buffer and one transport write (with FIN when endStream): one hop into the QUIC loop, usually one packet.
        int dataFrame = body.IsEmpty ? 0 : FrameHeader.Size + body.Length;
        byte[] buffer = RentHeadersFrame(fields, endStream && body.IsEmpty, dataFrame, out int o);
        int length = o + dataFrame;
        try
        {
            if (!body.IsEmpty)
            {
                new FrameHeader(body.Length, FrameType.Data, FrameFlags.None, 0).Write(buffer.AsSpan(o));
                body.Span.CopyTo(buffer.AsSpan(o + FrameHeader.Size));
            }
            await TransportWriteAsync(buffer.AsMemory(0, length), endStream, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc/>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken)
    {
        if (data.IsEmpty)
        {
            if (endStream) await TransportWriteAsync(ReadOnlyMemory<byte>.Empty, true, cancellationToken).ConfigureAwait(false);
            return;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(FrameHeader.Size + Math.Min(data.Length, SendChunk));
        try
        {
            while (!data.IsEmpty)
            {
                int n = Math.Min(data.Length, SendChunk);
                bool last = n == data.Length;
                new FrameHeader(n, FrameType.Data, FrameFlags.None, 0).Write(buffer);
                data.Span[..n].CopyTo(buffer.AsSpan(FrameHeader.Size));
                await TransportWriteAsync(buffer.AsMemory(0, FrameHeader.Size + n), endStream && last, cancellationToken).ConfigureAwait(false);
                data = data[n..];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc/>
    public int WriteHeaderRoom => FrameHeader.Size;

    /// <inheritdoc/>
    public ValueTask WriteInPlaceAsync(Memory<byte> buffer, bool endStream, CancellationToken cancellationToken)
    {
        int n = buffer.Length - FrameHeader.Size;
        if (n is <= 0 or > SendChunk) return WriteAsync(buffer[FrameHeader.Size..], endStream, cancellationToken);
        // The DATA frame's header goes into the room in front of the body: one write, no copy into a frame buffer.
        new FrameHeader(n, FrameType.Data, FrameFlags.None, 0).Write(buffer.Span);
        return TransportWriteAsync(buffer, endStream, cancellationToken);
    }

    /// <summary>A lease smaller than this (the send ring wraps soon, or has little room) is given back: one buffered chunk instead.</summary>
    private const int MinLeasedBody = 4096;

    private Memory<byte> _lease;

    /// <summary><c>OSPBRIDGE_PEERFETCH_LEASE=0</c> (A/B runs): bodies go through a pooled buffer even when the transport lends.</summary>
    private static readonly bool LeaseDisabled = Environment.GetEnvironmentVariable("OSPBRIDGE_PEERFETCH_LEASE") == "0";

    /// <inheritdoc/>
    public async ValueTask<Memory<byte>> LeaseBodyAsync(int maxBody, CancellationToken cancellationToken)
    {
        if (LeaseDisabled || _transport is not IPeerFetchLeasingDuplex leasing || _localEnded || maxBody < MinLeasedBody) return Memory<byte>.Empty;
        Memory<byte> lease;
        try
        {
            lease = await leasing.LeaseWriteAsync(FrameHeader.Size + Math.Min(maxBody, SendChunk), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
        {
            lock (_gate) _localEnded = true;
            if (_remoteEnded) Release();
            throw new PeerFetchException(PeerFetchError.StreamReset, "the exchange was reset: " + ex.Message, ex);
        }
        if (lease.Length < FrameHeader.Size + MinLeasedBody)
        {
            leasing.CommitLease(0, completeWrites: false);
            return Memory<byte>.Empty;
        }
        _lease = lease;
        return lease;
    }

    /// <inheritdoc/>
    public void CommitBody(int bodyLength, bool endStream)
    {
        var lease = _lease;
        _lease = default;
        if (lease.IsEmpty || (uint)bodyLength > (uint)(lease.Length - FrameHeader.Size)) throw new InvalidOperationException("no lease for this body chunk");
        int count = 0;
        if (bodyLength > 0)
        {
            new FrameHeader(bodyLength, FrameType.Data, FrameFlags.None, 0).Write(lease.Span);
            count = FrameHeader.Size + bodyLength;
        }
        ((IPeerFetchLeasingDuplex)_transport).CommitLease(count, endStream);
        if (endStream)
        {
            _localEnded = true;
            if (_remoteEnded) Release();
        }
    }

    private async ValueTask TransportWriteAsync(ReadOnlyMemory<byte> bytes, bool fin, CancellationToken cancellationToken)
    {
        if (_localEnded) throw _error as PeerFetchException ?? new PeerFetchException(PeerFetchError.StreamReset, "our side of the exchange already ended");
        try
        {
            await _transport.WriteAsync(bytes, fin, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The peer stopped reading (STOP_SENDING), reset, or the connection closed: our side is over.
            lock (_gate) _localEnded = true;
            if (_remoteEnded) Release();
            if (ex is PeerFetchException) throw;
            throw new PeerFetchException(PeerFetchError.StreamReset, "the exchange was reset: " + ex.Message, ex);
        }
        if (fin)
        {
            _localEnded = true;
            if (_remoteEnded) Release();
        }
    }

    // ------------------------------------------------------------------------------------------------ abort

    /// <inheritdoc/>
    public void Reset(PeerFetchErrorCode code = PeerFetchErrorCode.Cancel)
    {
        if (code != PeerFetchErrorCode.NoError)
        {
            Abort(code, byPeer: false);
            return;
        }
        lock (_gate)
        {
            if (_released || _resetCode is not null) return;
            // The response is complete; only ask the peer to stop sending its body (RFC 9114 §4.1 does the same).
            if (!_remoteEnded) _transport.AbortRead(0);
            _remoteEnded = true;
            if (!_localEnded) return;
        }
        Release();
    }

    /// <summary>Ends the exchange both ways: RESET_STREAM on our unfinished side, STOP_SENDING on the peer's.</summary>
    private void Abort(PeerFetchErrorCode code, bool byPeer)
    {
        Action? fire;
        lock (_gate)
        {
            if (_released || _resetCode is not null) return;
            _resetCode = code;
            _error ??= new PeerFetchException(PeerFetchError.StreamReset, $"exchange reset ({code})");
            if (!_localEnded) _transport.AbortWrite((long)code);
            if (!_remoteEnded) _transport.AbortRead((long)code);
            _localEnded = _remoteEnded = true;
            _abortedByPeer = byPeer;
            fire = byPeer ? _onAborted : null;
            _onAborted = null;
        }
        if (fire is not null) ThreadPool.QueueUserWorkItem(_ => fire());
        Release();
    }

    private Action? _onAborted;
    private bool _abortedByPeer;

    /// <inheritdoc/>
    public void SetOnAborted(Action value)
    {
        lock (_gate)
        {
            if (_abortedByPeer)
            {
                ThreadPool.QueueUserWorkItem(_ => value());
                return;
            }
            _onAborted = value;
            if (_watchingWrites) return; // the device sets it twice (origin request, then response body): one watch will do
            _watchingWrites = true;
        }
        // The peer stopping our side (STOP_SENDING) or the connection closing before our response ended.
        _transport.WritesClosed.ContinueWith(static (t, state) =>
        {
            if (!t.IsFaulted) return;
            var x = (PeerFetchStreamExchange)state!;
            bool finished;
            lock (x._gate) finished = x._localEnded;
            if (!finished) x.Abort(PeerFetchErrorCode.Cancel, byPeer: true);
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private bool _watchingWrites;

    private void Release()
    {
        lock (_gate)
        {
            if (_released) return;
            _released = true;
        }
        var disposing = _transport.DisposeAsync();
        if (!disposing.IsCompletedSuccessfully) _ = disposing.AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
    }

    /// <summary>Releases the transport stream (a clean FIN if our side is still open, STOP_SENDING on unread input).</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_released) return ValueTask.CompletedTask;
            _released = true;
        }
        return _transport.DisposeAsync();
    }
}
