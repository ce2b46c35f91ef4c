using System.Buffers;
using OspBridge.Net.Wire;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>Handles the raw CBOR body of a message; <paramref name="body"/> is valid only during the call.</summary>
public delegate void RawMessageHandler(ulong typeKey, ReadOnlySpan<byte> body);

/// <summary>Limits of a <see cref="MessageDemuxer"/>.</summary>
public sealed class MessageDemuxerOptions
{
    /// <summary>Largest CBOR body a stream may buffer (default 64 KiB, as openscreen's demuxer).</summary>
    public int MaxMessageSize { get; init; } = 1 << 16;

    /// <summary>Limits for scanning and decoding bodies (checked on the raw bytes before anything is decoded).</summary>
    public CborLimits Limits { get; init; } = CborLimits.Default;
}

/// <summary>Outcome of feeding bytes to a <see cref="MessageStream"/>.</summary>
public enum DemuxStatus
{
    /// <summary>All bytes were accepted; complete messages were dispatched, a partial one may be buffered.</summary>
    Ok,
    /// <summary>A message carries a type key nobody registered: close the connection with application error 404 (<see cref="OspFraming.UnknownTypeKeyErrorCode"/>).</summary>
    UnknownTypeKey,
    /// <summary>A body is not well-formed CBOR or does not match its schema.</summary>
    Malformed,
    /// <summary>A body exceeds <see cref="MessageDemuxerOptions.MaxMessageSize"/>.</summary>
    MessageTooLarge,
    /// <summary>The stream ended inside a message (<see cref="MessageStream.Complete"/>).</summary>
    Truncated,
    /// <summary>A handler threw (the exception was rethrown to the caller of <see cref="MessageStream.Push"/>); the stream is unusable.</summary>
    HandlerFailed,
}

/// <summary>The result of <see cref="MessageStream.Push"/> or <see cref="MessageStream.Complete"/>.</summary>
/// <param name="Status">What happened. Anything but <see cref="DemuxStatus.Ok"/> is final for the stream.</param>
/// <param name="MessagesDispatched">Messages handed to handlers by this call.</param>
/// <param name="TypeKey">The type key of the offending message (for errors), else 0.</param>
/// <param name="Error">The codec error behind <see cref="DemuxStatus.Malformed"/>, if any.</param>
/// <param name="Detail">A human-readable reason for errors (e.g. for the QUIC close reason phrase).</param>
public readonly record struct DemuxResult(DemuxStatus Status, int MessagesDispatched, ulong TypeKey = 0, CborError? Error = null, string? Detail = null)
{
    /// <summary>True when <see cref="Status"/> is <see cref="DemuxStatus.Ok"/>.</summary>
    public bool IsOk => Status == DemuxStatus.Ok;
}

/// <summary>
/// Routes OSP messages (QUIC varint type key + CBOR body) to handlers registered by type key, like
/// openscreen's <c>MessageDemuxer</c>. Create one <see cref="MessageStream"/> per incoming QUIC stream and
/// push its bytes in whatever chunks arrive. Not thread-safe: use from the connection's serialized loop.
/// </summary>
public sealed class MessageDemuxer
{
    private readonly Dictionary<ulong, Handler> _handlers = [];

    /// <summary>Creates a demuxer.</summary>
    public MessageDemuxer(MessageDemuxerOptions? options = null) => Options = options ?? new MessageDemuxerOptions();

    /// <summary>The limits in force.</summary>
    public MessageDemuxerOptions Options { get; }

    /// <summary>Routes messages of type <typeparamref name="T"/> (decoded) to <paramref name="handler"/>.</summary>
    public void Register<T>(Action<T> handler)
        where T : class, IOspMessage<T>
    {
        ArgumentNullException.ThrowIfNull(handler);
        // Generated types decode straight from the scanned body; other implementations validate it again.
        Func<ReadOnlyMemory<byte>, CborLimits, IOspMessage> decode = OspMessageRegistry.TryGet(T.MessageTypeKey, out OspMessageDescriptor? descriptor) && descriptor.MessageType == typeof(T)
            ? descriptor.DecodeValidated
            : static (body, limits) => T.Decode(body, limits);
        Add(T.MessageTypeKey, new Handler(decode, message => handler((T)message), null));
    }

    /// <summary>Routes every message of the schema (decoded) to <paramref name="handler"/>.</summary>
    public void RegisterAll(Action<IOspMessage> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        foreach (OspMessageDescriptor descriptor in OspMessageRegistry.All)
        {
            Add(descriptor.TypeKey, new Handler(descriptor.DecodeValidated, handler, null));
        }
    }

    /// <summary>Routes raw bodies of <paramref name="typeKey"/> (e.g. an extension outside the schema) to <paramref name="handler"/>.</summary>
    public void RegisterRaw(ulong typeKey, RawMessageHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(typeKey, new Handler(null, null, handler));
    }

    /// <summary>Whether a handler exists for <paramref name="typeKey"/>.</summary>
    public bool IsRegistered(ulong typeKey) => _handlers.ContainsKey(typeKey);

    /// <summary>Starts demultiplexing one QUIC stream.</summary>
    public MessageStream CreateStream() => new(this);

    internal bool TryGetHandler(ulong typeKey, out Handler handler) => _handlers.TryGetValue(typeKey, out handler);

    private void Add(ulong typeKey, Handler handler)
    {
        if (typeKey > QuicVarint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(typeKey), "Type keys are QUIC varints (< 2^62).");
        }

        if (!_handlers.TryAdd(typeKey, handler))
        {
            throw new InvalidOperationException($"Type key {typeKey} already has a handler.");
        }
    }

    internal readonly record struct Handler(Func<ReadOnlyMemory<byte>, CborLimits, IOspMessage>? Decode, Action<IOspMessage>? Handle, RawMessageHandler? Raw);
}

/// <summary>
/// The demultiplexing state of one QUIC stream: a partially received message is kept in a pooled buffer
/// bounded by <see cref="MessageDemuxerOptions.MaxMessageSize"/> (checked before copying). After any result
/// other than <see cref="DemuxStatus.Ok"/> the stream is finished and keeps returning that result.
/// </summary>
public sealed class MessageStream : IDisposable
{
    private readonly MessageDemuxer _demuxer;
    private readonly CborItemScanner _scanner;
    private byte[]? _buffer;
    private int _buffered;
    private int _keyLength; // 0 while the type key is incomplete
    private ulong _typeKey;
    private MessageDemuxer.Handler _handler;
    private DemuxResult? _failure;

    internal MessageStream(MessageDemuxer demuxer)
    {
        _demuxer = demuxer;
        _scanner = new CborItemScanner(demuxer.Options.Limits);
    }

    /// <summary>Messages dispatched over the life of the stream.</summary>
    public long MessagesDispatched { get; private set; }

    /// <summary>True while part of a message is buffered.</summary>
    public bool HasPartialMessage => _buffered > 0;

    /// <summary>Feeds the next bytes of the stream; dispatches every message they complete.</summary>
    public DemuxResult Push(ReadOnlyMemory<byte> data)
    {
        if (_failure is { } failed)
        {
            return failed with { MessagesDispatched = 0 };
        }

        int dispatched = 0;
        while (!data.IsEmpty)
        {
            if (_buffered == 0)
            {
                // Fast path: parse straight from the caller's memory; copy only an incomplete tail.
                if (!QuicVarint.TryRead(data.Span, out ulong key, out int keyLength))
                {
                    Append(data.Span);
                    break;
                }

                if (!StartMessage(key, keyLength, out DemuxResult failure))
                {
                    return Fail(failure, dispatched);
                }

                ReadOnlyMemory<byte> body = data[keyLength..];
                int end;
                try
                {
                    // Scan at most the size limit: a larger message is refused without looking further.
                    end = _scanner.Advance(body.Span[..Math.Min(body.Length, _demuxer.Options.MaxMessageSize)]);
                }
                catch (CborException e)
                {
                    return Fail(new DemuxResult(DemuxStatus.Malformed, 0, _typeKey, e.Error, e.Message), dispatched);
                }

                if (end < 0)
                {
                    if (body.Length > _demuxer.Options.MaxMessageSize)
                    {
                        return Fail(TooLarge(), dispatched);
                    }

                    Append(data.Span);
                    break;
                }

                if (!Dispatch(body[..end], out failure))
                {
                    return Fail(failure, dispatched);
                }

                dispatched++;
                data = body[end..];
                continue;
            }

            // Slow path: part of a message is buffered; append as much as the limit allows and rescan.
            int before = _buffered;
            if (_keyLength == 0)
            {
                int need = Math.Min(data.Length, QuicVarint.MaxLength - _buffered);
                Append(data.Span[..need]);
                if (!QuicVarint.TryRead(_buffer.AsSpan(0, _buffered), out ulong key, out int keyLength))
                {
                    data = data[need..];
                    continue;
                }

                // Give back bytes that belong to the body; they are appended below under the size limit.
                _buffered = keyLength;
                data = data[(keyLength - before)..];
                if (!StartMessage(key, keyLength, out DemuxResult failure))
                {
                    return Fail(failure, dispatched);
                }

                before = _buffered;
            }

            int room = _keyLength + _demuxer.Options.MaxMessageSize - _buffered;
            int take = Math.Min(room, data.Length);
            Append(data.Span[..take]);
            int bodyEnd;
            try
            {
                bodyEnd = _scanner.Advance(_buffer.AsSpan(_keyLength, _buffered - _keyLength));
            }
            catch (CborException e)
            {
                return Fail(new DemuxResult(DemuxStatus.Malformed, 0, _typeKey, e.Error, e.Message), dispatched);
            }

            if (bodyEnd < 0)
            {
                if (take < data.Length || _buffered - _keyLength > _demuxer.Options.MaxMessageSize)
                {
                    return Fail(TooLarge(), dispatched);
                }

                break;
            }

            int consumed = _keyLength + bodyEnd - before;
            if (!Dispatch(_buffer.AsMemory(_keyLength, bodyEnd), out DemuxResult dispatchFailure))
            {
                return Fail(dispatchFailure, dispatched);
            }

            dispatched++;
            _buffered = 0;
            data = data[consumed..];
        }

        return new DemuxResult(DemuxStatus.Ok, dispatched);
    }

    /// <summary>Signals the end of the stream (FIN): fails with <see cref="DemuxStatus.Truncated"/> if a message is incomplete.</summary>
    public DemuxResult Complete()
    {
        if (_failure is { } failed)
        {
            return failed with { MessagesDispatched = 0 };
        }

        if (_buffered > 0)
        {
            return Fail(new DemuxResult(DemuxStatus.Truncated, 0, _typeKey, CborError.Truncated, "The stream ended inside a message."), 0);
        }

        return new DemuxResult(DemuxStatus.Ok, 0);
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _buffered = 0;
    }

    private bool StartMessage(ulong key, int keyLength, out DemuxResult failure)
    {
        _typeKey = key;
        if (!_demuxer.TryGetHandler(key, out _handler))
        {
            failure = new DemuxResult(DemuxStatus.UnknownTypeKey, 0, key, null, $"Unknown message type key {key}.");
            return false;
        }

        _keyLength = keyLength;
        _scanner.Reset();
        failure = default;
        return true;
    }

    private bool Dispatch(ReadOnlyMemory<byte> body, out DemuxResult failure)
    {
        failure = default;
        _keyLength = 0;
        _scanner.Reset();
        if (_handler.Raw is { } raw)
        {
            try
            {
                raw(_typeKey, body.Span);
            }
            catch (Exception e)
            {
                Fail(new DemuxResult(DemuxStatus.HandlerFailed, 0, _typeKey, null, e.Message), 0);
                throw;
            }
        }
        else
        {
            IOspMessage message;
            try
            {
                message = _handler.Decode!(body, _demuxer.Options.Limits);
            }
            catch (CborException e)
            {
                failure = new DemuxResult(DemuxStatus.Malformed, 0, _typeKey, e.Error, e.Message);
                return false;
            }

            try
            {
                _handler.Handle!(message);
            }
            catch (Exception e)
            {
                // The handler's own exception propagates; the stream cannot continue after it.
                Fail(new DemuxResult(DemuxStatus.HandlerFailed, 0, _typeKey, null, e.Message), 0);
                throw;
            }
        }

        MessagesDispatched++;
        return true;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        int needed = _buffered + bytes.Length;
        if (_buffer is null || _buffer.Length < needed)
        {
            int capacity = Math.Min(Math.Max(needed, Math.Max(64, (_buffer?.Length ?? 0) * 2)), _demuxer.Options.MaxMessageSize + QuicVarint.MaxLength);
            capacity = Math.Max(capacity, needed);
            byte[] bigger = ArrayPool<byte>.Shared.Rent(capacity);
            if (_buffer is not null)
            {
                _buffer.AsSpan(0, _buffered).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = bigger;
        }

        bytes.CopyTo(_buffer.AsSpan(_buffered));
        _buffered = needed;
    }

    private DemuxResult TooLarge() =>
        new(DemuxStatus.MessageTooLarge, 0, _typeKey, null, $"Message body exceeds {_demuxer.Options.MaxMessageSize} bytes.");

    private DemuxResult Fail(DemuxResult failure, int dispatched)
    {
        _failure = failure;
        Dispose();
        return failure with { MessagesDispatched = dispatched };
    }
}
