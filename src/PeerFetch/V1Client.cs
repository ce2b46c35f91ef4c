using System.Net;
using System.Text;
using OspBridge.Net.Channels;
using OspBridge.PeerFetch.V1;

namespace OspBridge.PeerFetch;

/// <summary>
/// v1 semantics over a channel: one request in flight, 202 heartbeats skipped, a final header then one body message
/// (none for 204). Before its first request, and after any request that did not finish cleanly, it resynchronizes with
/// a ping and skips everything until the <c>pong</c> body.
/// </summary>
internal sealed class V1Client(IMessageChannel channel, PeerFetchClientOptions options) : IDisposable
{
    private readonly SemaphoreSlim _one = new(1, 1);
    private bool _synced;

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        byte[]? body = null;
        string? type = null;
        if (request.Content is not null)
        {
            type = request.Content.Headers.ContentType?.ToString();
            body = await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            bool text = type is null || type.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || type.Contains("json", StringComparison.OrdinalIgnoreCase);
            if (!text) throw new PeerFetchException(PeerFetchError.NotSupportedByV1, "v1 carries only text or JSON request bodies");
        }
        var message = new V1Request(request.RequestUri!.ToString(), request.Method.Method, body, type).ToJson();
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.V1RequestTimeout);
        bool clean = false;
        try
        {
            if (!_synced) await SyncAsync(timeout.Token).ConfigureAwait(false);
            _synced = false;
            await channel.SendAsync(Encoding.UTF8.GetBytes(message), isText: true, timeout.Token).ConfigureAwait(false);
            V1Header header;
            while (true)
            {
                var m = await ReceiveAsync(timeout.Token).ConfigureAwait(false);
                if (!V1Header.TryParse(m.Data.Span, out header)) continue; // "incompatible protocol": ignored, as the original client does
                if (header.Status != 202) break;
            }
            var response = new HttpResponseMessage((HttpStatusCode)header.Status) { RequestMessage = request };
            byte[] content = [];
            if (header.Status != 204) content = (await ReceiveAsync(timeout.Token).ConfigureAwait(false)).Data.ToArray();
            response.Content = new ByteArrayContent(content);
            if (header.ContentType is { } ct && ct != "None") response.Content.Headers.TryAddWithoutValidation("Content-Type", ct);
            clean = true;
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PeerFetchException(PeerFetchError.Timeout, $"v1 request got no answer within {options.V1RequestTimeout}");
        }
        finally
        {
            _synced = clean;
            _one.Release();
        }
    }

    private async Task<ChannelMessage> ReceiveAsync(CancellationToken cancellationToken) =>
        await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false)
        ?? throw new PeerFetchException(PeerFetchError.ChannelClosed, "the channel closed");

    /// <summary>Sends a ping and drops every message up to its <c>pong</c> body: stale answers are gone after it.</summary>
    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        await channel.SendAsync(Encoding.UTF8.GetBytes("""{"url":"ping?","method":"GET"}"""), isText: true, cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < 1024; i++)
        {
            var m = await ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (m.Data.Span.SequenceEqual("pong"u8)) { _synced = true; return; }
        }
        throw new PeerFetchException(PeerFetchError.Protocol, "v1 device never answered ping with pong");
    }

    public void Dispose() => _one.Dispose();
}
