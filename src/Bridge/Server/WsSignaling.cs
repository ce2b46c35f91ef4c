using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OspBridge.Bridge.Server;

/// <summary>
/// <c>/ws/{id}</c>: WebSocket signaling for apps written against go2rtc-style signaling. Text messages, JSON:
/// client → bridge <c>{"type":"offer","sdp":"…"}</c> then <c>{"type":"candidate","candidate":"candidate:…",
/// "sdpMid":"0","sdpMLineIndex":0}</c> (or the candidate as an object; an empty/null candidate ends them);
/// bridge → client <c>{"type":"answer","sdp":"…"}</c>, then each of the answer's candidates as a
/// <c>candidate</c> message and an empty one (end-of-candidates), or <c>{"type":"error","error":"…"}</c>.
/// The offer goes to the device over LAN signaling; media and data then flow directly. Several offers may follow
/// one another on one socket; the socket closes (1001) when the device's session ends, and (1008) when the browser
/// token it was opened with is revoked.
/// </summary>
internal static class WsSignaling
{
    /// <summary>Largest signaling message accepted.</summary>
    public const int MaxMessageBytes = 256 * 1024;

    private static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);

    public static async Task RunAsync(HttpContext context, DeviceRegistry devices, string id, ILogger logger, TimeProvider time, CancellationToken revoked = default)
    {
        var link = await devices.ConnectAsync(id, context.RequestAborted).ConfigureAwait(false);
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, link.Ended);
        var send = new SemaphoreSlim(1, 1);
        TrickleOffer? current = null;
        var buffer = new byte[MaxMessageBytes];
        var closer = CloseWhenRevokedAsync(socket, send, revoked, ended.Token);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(ended.Token);
                idle.CancelAfter(IdleTimeout);
                var (text, closed) = await ReceiveTextAsync(socket, buffer, idle.Token).ConfigureAwait(false);
                if (closed) break;
                if (text is null)
                {
                    await SendAsync(socket, send, Error("messages must be JSON text of at most 256 KiB"), ended.Token).ConfigureAwait(false);
                    continue;
                }
                JsonObject? message;
                try { message = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject; }
                catch (JsonException) { message = null; }
                string? type = message?["type"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
                switch (type)
                {
                    case "offer":
                        string? sdp = Str(message!["sdp"]) ?? Str(message["value"]);
                        if (!TrickleOffer.TryCreate(sdp, out var offer, out string? error))
                        {
                            await SendAsync(socket, send, Error(error!), ended.Token).ConfigureAwait(false);
                            break;
                        }
                        current = offer;
                        _ = AnswerAsync(socket, send, link, offer!, logger, time, ended.Token);
                        break;
                    case "candidate":
                        if (current is null)
                        {
                            await SendAsync(socket, send, Error("candidate before offer"), ended.Token).ConfigureAwait(false);
                            break;
                        }
                        var (candidate, mid, index) = ReadCandidate(message!);
                        if (!current.AddCandidate(candidate, mid, index) && logger.IsEnabled(LogLevel.Debug))
                            logger.LogDebug("ws {Id}: candidate dropped", id);
                        break;
                    default:
                        await SendAsync(socket, send, Error("expected {\"type\":\"offer\"|\"candidate\",...}"), ended.Token).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
            return;
        }
        finally
        {
            await ended.CancelAsync().ConfigureAwait(false);
            await closer.ConfigureAwait(false);
        }
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                bool gone = link.Ended.IsCancellationRequested;
                var (status, reason) = revoked.IsCancellationRequested ? (WebSocketCloseStatus.PolicyViolation, "token revoked")
                    : gone ? (WebSocketCloseStatus.EndpointUnavailable, "device session ended") : (WebSocketCloseStatus.NormalClosure, (string?)null);
                await socket.CloseAsync(status, reason, closing.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Closes <paramref name="socket"/> with 1008 "token revoked" when <paramref name="revoked"/> fires before
    /// <paramref name="done"/>: the close frame goes out through the send gate (never beside another send), the receive loop
    /// then sees the peer's close; a peer that does not answer within 2 s is aborted. (Cancelling the receive instead would
    /// abort the socket without a close frame.)
    /// </summary>
    internal static async Task CloseWhenRevokedAsync(WebSocket socket, SemaphoreSlim gate, CancellationToken revoked, CancellationToken done)
    {
        if (!revoked.CanBeCanceled) return;
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (revoked.Register(() => fired.TrySetResult()))
        using (done.Register(() => fired.TrySetResult()))
            await fired.Task.ConfigureAwait(false);
        if (!revoked.IsCancellationRequested || done.IsCancellationRequested) return;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await gate.WaitAsync(limit.Token).ConfigureAwait(false);
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "token revoked", limit.Token).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
            var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (done.Register(() => answered.TrySetResult()))
            using (limit.Token.Register(() => answered.TrySetResult()))
                await answered.Task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        if (!done.IsCancellationRequested) socket.Abort(); // the peer did not answer the close: the receive loop ends
    }

    private static async Task AnswerAsync(WebSocket socket, SemaphoreSlim send, DeviceLink link, TrickleOffer offer, ILogger logger, TimeProvider time, CancellationToken ct)
    {
        try
        {
            await offer.WaitForCandidatesAsync(time, ct).ConfigureAwait(false);
            string answer = await link.OfferAsync(offer.BuildSdp(), "ws", ct).ConfigureAwait(false);
            await SendAsync(socket, send, new JsonObject { ["type"] = "answer", ["sdp"] = answer }, ct).ConfigureAwait(false);
            foreach (var (c, mid, index) in TrickleOffer.CandidatesOf(answer))
                await SendAsync(socket, send, new JsonObject { ["type"] = "candidate", ["candidate"] = c, ["sdpMid"] = mid, ["sdpMLineIndex"] = index }, ct).ConfigureAwait(false);
            await SendAsync(socket, send, new JsonObject { ["type"] = "candidate", ["candidate"] = "" }, ct).ConfigureAwait(false);
        }
        catch (Osp.OspException ex)
        {
            if (logger.IsEnabled(LogLevel.Information)) logger.LogInformation("ws {Id}: offer failed: {Error}", link.DeviceId, ex.Message);
            try { await SendAsync(socket, send, Error("the device did not answer: " + ex.Message), ct).ConfigureAwait(false); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException) { }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    internal static (string? Candidate, string? Mid, int? Index) ReadCandidate(JsonObject message)
    {
        var node = message["candidate"];
        if (node is JsonObject inner)
            return (Str(inner["candidate"]), Str(inner["sdpMid"]), Int(inner["sdpMLineIndex"]));
        return (Str(node), Str(message["sdpMid"]), Int(message["sdpMLineIndex"]));
    }

    internal static string? Str(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static int? Int(JsonNode? node) => node is JsonValue v && v.TryGetValue(out int i) ? i : null;

    private static JsonObject Error(string message) => new() { ["type"] = "error", ["error"] = message };

    /// <summary>One whole text message (null when binary or too big; <c>closed</c> when the peer closed).</summary>
    internal static async Task<(string? Text, bool Closed)> ReceiveTextAsync(WebSocket socket, byte[] buffer, CancellationToken ct)
    {
        int used = 0;
        bool tooBig = false;
        while (true)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(used == buffer.Length ? 0 : used), ct).ConfigureAwait(false);
            if (r.MessageType == WebSocketMessageType.Close) return (null, true);
            if (used == buffer.Length) tooBig = true; // keep draining, drop the message
            else used += r.Count;
            if (used == buffer.Length && !r.EndOfMessage) tooBig = true;
            if (!r.EndOfMessage) continue;
            if (tooBig || r.MessageType != WebSocketMessageType.Text) return (null, false);
            try { return (new UTF8Encoding(false, true).GetString(buffer, 0, used), false); }
            catch (DecoderFallbackException) { return (null, false); }
        }
    }

    internal static async Task SendAsync(WebSocket socket, SemaphoreSlim gate, JsonNode message, CancellationToken ct)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (socket.State == WebSocketState.Open)
                await socket.SendAsync(bytes, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }
}
