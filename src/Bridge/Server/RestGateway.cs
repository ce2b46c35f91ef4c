using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using OspBridge.PeerFetch;

namespace OspBridge.Bridge.Server;

/// <summary>
/// <c>/devices/{id}/http/{**path}</c>: forwards the request to the device's HTTP origin with PeerFetch over the
/// bridge's LP2P session (v2: many requests at once on one data channel), streaming the request body up and the
/// response body down as they come. Hop-by-hop headers (RFC 9110 §7.6.1, plus those named in <c>Connection</c>)
/// and the bridge's own credentials are not forwarded.
/// </summary>
internal static class RestGateway
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host",
    };

    /// <summary>Largest request head forwarded (the device's PeerFetch limit is 64 KiB).</summary>
    private const int MaxHeadBytes = 48 * 1024;

    /// <summary>How long the device may take to send the response head.</summary>
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);

    public static async Task ForwardAsync(HttpContext context, DeviceRegistry devices, BridgeTokens tokens, string id, string? path, ILogger logger)
    {
        var link = await devices.ConnectAsync(id, context.RequestAborted).ConfigureAwait(false);
        HttpMessageInvoker http;
        try
        {
            http = await link.GetHttpAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or TimeoutException)
        {
            throw new BridgeHttpException(502, $"device {id}: cannot open its http-proxy channel ({ex.Message})");
        }

        string target = "/" + (path ?? "") + context.Request.QueryString.Value;
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri("http://localhost" + target, UriKind.Absolute));
        var connectionNamed = NamedInConnection(context.Request.Headers.Connection);
        bool hasBody = context.Request.ContentLength > 0 || (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0);
        if (hasBody)
        {
            request.Content = new StreamContent(context.Request.Body, 64 * 1024);
            if (context.Request.ContentLength is { } length) request.Content.Headers.ContentLength = length;
        }
        int headBytes = target.Length;
        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHop.Contains(name) || connectionNamed.Contains(name) || name.StartsWith(':')) continue;
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && BridgeAuth.IsBridgeCredential(values.ToString(), tokens)) continue;
            if (name.Equals("Cookie", StringComparison.OrdinalIgnoreCase))
            {
                string? rest = BridgeAuth.WithoutSessionCookie(values.ToString());
                if (rest is null) continue;
                request.Headers.TryAddWithoutValidation(name, rest);
                continue;
            }
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
            headBytes += name.Length + values.ToString().Length + 4;
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values) && request.Content is not null)
                request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        if (headBytes > MaxHeadBytes) throw new BridgeHttpException(431, "request head too large for the device");

        IDisposable? inFlight = null;
        try
        {
            HttpResponseMessage response;
            using (var head = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, link.Ended))
            {
                head.CancelAfter(HeadTimeout);
                long queuedAt = TimeProvider.System.GetTimestamp();
                TimeSpan queued = TimeSpan.Zero;
                try
                {
                    // The device limits requests per peer and the bridge is one peer for all users: queue here, not 429 there.
                    inFlight = await link.EnterRequestAsync(head.Token).ConfigureAwait(false);
                    queued = TimeProvider.System.GetElapsedTime(queuedAt);
                    response = await http.SendAsync(request, head.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
                {
                    if (link.Ended.IsCancellationRequested) throw new BridgeHttpException(502, $"device {id} went away");
                    throw new BridgeHttpException(504, TimeoutMessage(id, inFlight is not null, queued));
                }
                catch (Exception ex) when (ex is HttpRequestException or PeerFetchException or IOException or Osp.OspException)
                {
                    throw new BridgeHttpException(502, $"device {id}: {(ex.InnerException ?? ex).Message}");
                }
            }

            using (response)
            {
                context.Response.StatusCode = (int)response.StatusCode;
                var responseNamed = NamedInConnection(response.Headers.Connection);
                foreach (var h in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
                {
                    if (HopByHop.Contains(h.Key) || responseNamed.Contains(h.Key)) continue;
                    context.Response.Headers.Append(h.Key, h.Value.ToArray());
                }
                context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted).ConfigureAwait(false);
                    using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, link.Ended);
                    int n;
                    while ((n = await body.ReadAsync(buffer.AsMemory(0, 64 * 1024), ended.Token).ConfigureAwait(false)) > 0)
                    {
                        await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), ended.Token).ConfigureAwait(false);
                        await context.Response.Body.FlushAsync(ended.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or PeerFetchException or IOException or OperationCanceledException or Osp.OspException)
                {
                    // The head is out: all we can do is cut the response so the client sees it incomplete.
                    if (logger.IsEnabled(LogLevel.Debug)) logger.LogDebug("response from device {Id} cut off: {Error}", id, ex.Message);
                    context.Abort();
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            inFlight?.Dispose();
        }
    }

    /// <summary>
    /// The 504 text: says whether the time went by in the bridge's own queue (<see cref="DeviceLink.MaxRequestsInFlight"/>
    /// requests to this device already in flight) or waiting for the device's answer, and how long each took.
    /// </summary>
    internal static string TimeoutMessage(string id, bool sentToDevice, TimeSpan queued)
        => sentToDevice
            ? $"device {id} sent no response head within {(HeadTimeout - queued).TotalSeconds:0.#} s (the request waited {queued.TotalSeconds:0.#} s in the bridge's queue before it was sent)"
            : $"the bridge did not send the request to device {id}: it waited {HeadTimeout.TotalSeconds:0} s in the bridge's queue behind {DeviceLink.MaxRequestsInFlight} requests already in flight to that device";

    private static HashSet<string> NamedInConnection(IEnumerable<string?> connection)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string? v in connection)
        {
            if (v is null) continue;
            foreach (string token in v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)) set.Add(token);
        }
        return set;
    }
}
