using System.Buffers;
using OspBridge.Net.Channels;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch;

/// <summary>
/// An <see cref="HttpMessageHandler"/> that sends requests over a PeerFetch channel, so <c>new HttpClient(handler)</c>
/// reaches a device's HTTP API. Speaks v2 (many requests at once, streamed bodies both ways, cancellation resets the
/// request on the device) and falls back to v1 semantics (one request at a time, whole bodies) against a v1-only device.
/// </summary>
/// <remarks>
/// The response is returned as soon as its head arrives (its content streams), so
/// <see cref="HttpCompletionOption.ResponseHeadersRead"/> works; with the default option HttpClient buffers it.
/// Cancelling the token (or <see cref="HttpClient.Timeout"/>) resets the request; disposing a response whose body was
/// not read to the end resets it too. The handler owns the channel and closes it when disposed.
/// </remarks>
public sealed class PeerFetchHandler : HttpMessageHandler
{
    /// <summary>The sub-protocol name for channels that speak only v2.</summary>
    public const string ChannelProtocol = "peerfetch/2";

    private readonly IMessageChannel? _channel;
    private readonly Streams.IPeerFetchStreamConnection? _streams;
    private readonly PeerFetchClientOptions _options;
    private readonly SemaphoreSlim _negotiate = new(1, 1);
    private PeerFetchConnection? _v2;
    private V1Client? _v1;
    private int _disposed;

    /// <summary>Creates a handler over an open channel.</summary>
    public PeerFetchHandler(IMessageChannel channel, PeerFetchClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        _options = options ?? new PeerFetchClientOptions();
    }

    /// <summary>
    /// Creates a handler over a stream connection (an LP2P QUIC transport): every request on its own bidirectional
    /// stream (docs/peerfetch.md §2.6), so requests never wait behind each other. The handler owns the connection.
    /// </summary>
    public PeerFetchHandler(Streams.IPeerFetchStreamConnection connection, PeerFetchClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _streams = connection;
        _options = options ?? new PeerFetchClientOptions();
    }

    /// <summary>The protocol in use once the first request negotiated it (null before).</summary>
    public PeerFetchProtocol? Protocol => _streams is not null ? PeerFetchProtocol.V2 : _v2 is not null ? PeerFetchProtocol.V2 : _v1 is not null ? PeerFetchProtocol.V1 : null;

    /// <summary>Negotiates now (otherwise the first request does): HELLO, then v2 or v1.</summary>
    public async Task<PeerFetchProtocol> ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (Protocol is { } p) return p;
        await _negotiate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Protocol is { } q) return q;
            if (_channel is null) return PeerFetchProtocol.V2;
            var settings = PeerFetchSettings.Default with { InitialStreamWindow = _options.StreamWindow, InitialChannelWindow = _options.ChannelWindow };
            var conn = await PeerFetchConnection.ConnectAsync(_channel, settings, _options.NegotiationTimeout, _options.Logger, _options.TimeProvider, cancellationToken, _options.KeepAliveInterval, _options.IdleTimeout).ConfigureAwait(false);
            if (conn is not null)
            {
                _v2 = conn;
                return PeerFetchProtocol.V2;
            }
            if (!_options.AllowV1Fallback) throw new PeerFetchException(PeerFetchError.NotSupportedByV1, "the device does not speak PeerFetch v2");
            _v1 = new V1Client(_channel, _options);
            return PeerFetchProtocol.V1;
        }
        finally
        {
            _negotiate.Release();
        }
    }

    /// <inheritdoc/>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_streams is not null) return await SendOverStreamAsync(_streams, request, _options, cancellationToken).ConfigureAwait(false);
        var protocol = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (protocol == PeerFetchProtocol.V1) return await _v1!.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return await SendV2Async(_v2!, request, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<HttpResponseMessage> SendV2Async(PeerFetchConnection conn, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var head = PeerFetchHttp.RequestHead(request);
        bool hasBody = request.Content is not null && request.Content.Headers.ContentLength != 0;
        PeerFetchStream stream;
        try
        {
            stream = await conn.OpenStreamAsync(head, endStream: !hasBody, cancellationToken).ConfigureAwait(false);
        }
        catch (PeerFetchException ex)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, "PeerFetch: " + ex.Message, ex);
        }
        return await ExchangeAsync(stream, request, hasBody, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<HttpResponseMessage> SendOverStreamAsync(Streams.IPeerFetchStreamConnection connection, HttpRequestMessage request, PeerFetchClientOptions options, CancellationToken cancellationToken)
    {
        var head = PeerFetchHttp.RequestHead(request);
        bool hasBody = request.Content is not null && request.Content.Headers.ContentLength != 0;
        Streams.PeerFetchStreamExchange exchange;
        try
        {
            exchange = await Streams.PeerFetchStreamExchange.OpenAsync(connection, head, endStream: !hasBody, options.Logger, cancellationToken).ConfigureAwait(false);
        }
        catch (PeerFetchException ex)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, "PeerFetch: " + ex.Message, ex);
        }
        return await ExchangeAsync(exchange, request, hasBody, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The rest of an exchange once its request head is out: body pump, response head, streamed content.</summary>
    private static async Task<HttpResponseMessage> ExchangeAsync(IPeerFetchExchange stream, HttpRequestMessage request, bool hasBody, CancellationToken cancellationToken)
    {
        if (hasBody) _ = PumpRequestBodyAsync(request.Content!, stream);
        List<KeyValuePair<string, string>> responseHead;
        try
        {
            using (cancellationToken.Register(static s => ((IPeerFetchExchange)s!).Reset(PeerFetchErrorCode.Cancel), stream))
                responseHead = await stream.Head.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stream.Reset(PeerFetchErrorCode.Cancel);
            throw;
        }
        catch (PeerFetchException ex)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new HttpRequestException(HttpRequestError.ResponseEnded, "PeerFetch: " + ex.Message, ex);
        }
        HttpResponseMessage? response = null;
        var body = new PeerFetchBodyStream(stream, onEnd: () =>
        {
            if (stream.Trailers is { } t && response is not null)
                foreach (var f in t) response.TrailingHeaders.TryAddWithoutValidation(f.Key, f.Value);
        });
        response = PeerFetchHttp.ToResponse(responseHead, body, request);
        return response;
    }

    private static async Task PumpRequestBodyAsync(HttpContent content, IPeerFetchExchange stream)
    {
        try
        {
            var source = await content.ReadAsStreamAsync().ConfigureAwait(false);
            // The device's download chunk (255 KiB: one DATA frame per channel message of ≤ 256 KiB), was 64 KiB.
            int room = stream.WriteHeaderRoom; // framed in place (no copy into a frame buffer)
            byte[] buffer = ArrayPool<byte>.Shared.Rent(room + PeerFetchDevice.BodyChunk);
            try
            {
                while (true)
                {
                    int n = await source.ReadAsync(buffer.AsMemory(room, PeerFetchDevice.BodyChunk)).ConfigureAwait(false);
                    if (n == 0) break;
                    await stream.WriteInPlaceAsync(buffer.AsMemory(0, room + n), endStream: false, CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            await stream.WriteAsync(ReadOnlyMemory<byte>.Empty, endStream: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (PeerFetchException)
        {
            // The exchange was reset (cancelled by us, refused or answered early by the device): nothing to send.
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            stream.Reset(PeerFetchErrorCode.Cancel);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            if (_streams is not null) _streams.DisposeAsync().AsTask().GetAwaiter().GetResult();
            else if (_v2 is not null) _v2.DisposeAsync().AsTask().GetAwaiter().GetResult();
            else _channel!.CloseAsync().AsTask().GetAwaiter().GetResult();
            _negotiate.Dispose();
            _v1?.Dispose();
        }
        base.Dispose(disposing);
    }
}
