using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OspBridge.Bridge.Server;

/// <summary>
/// PeerJS-compatible signaling at <c>/peerjs</c> (the PeerJS server protocol, as peerjs 1.5.5 speaks it): a paired
/// device appears as peer id <c>{id}</c>, the bridge token is the PeerJS <c>key</c>. Clients get an id from
/// <c>GET /peerjs/{key}/id</c> (or bring their own) and open <c>{path}peerjs?key=K&amp;id=ID&amp;token=T</c>; the
/// bridge answers OPEN, swallows HEARTBEAT, answers ID-TAKEN for an id held with another token (or a device's id),
/// EXPIRE for a destination it does not know, and stamps <c>src</c> on every message it relays between clients
/// (in arrival order, CANDIDATEs before the ANSWER included). An OFFER to a device becomes a LAN signaling offer
/// (its trickled CANDIDATEs folded in, <see cref="TrickleOffer"/>) and the device's answer comes back as ANSWER
/// with <c>payload.sdp = {type, sdp}</c> and the client's <c>connectionId</c>; the data channel (e.g.
/// <c>http-proxy</c>, created in-band by the browser) then runs directly between the browser and the device.
/// </summary>
internal sealed class PeerJsSignaling
{
    /// <summary>Most clients connected at once.</summary>
    public const int MaxClients = 1000;

    /// <summary>Clients silent for this long are dropped (PeerJS sends HEARTBEAT every 5 s).</summary>
    public static readonly TimeSpan AliveTimeout = TimeSpan.FromSeconds(60);

    private const int MaxPendingOffers = 8;
    private readonly ConcurrentDictionary<string, Client> _clients = new(StringComparer.Ordinal);
    private readonly DeviceRegistry _devices;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public PeerJsSignaling(DeviceRegistry devices, ILogger logger, TimeProvider time)
    {
        _devices = devices;
        _logger = logger;
        _time = time;
    }

    /// <summary>Clients connected now.</summary>
    public int ClientCount => _clients.Count;

    /// <summary><c>GET …/id</c>: a fresh random id (text/plain, as the PeerJS server sends it).</summary>
    public static IResult NewId() => Results.Text(Guid.NewGuid().ToString(), "text/html");

    /// <summary>The WebSocket endpoint; it closes with 1008 when <paramref name="revoked"/> fires (the token was revoked).</summary>
    public async Task RunAsync(HttpContext context, CancellationToken revoked = default)
    {
        if (!context.WebSockets.IsWebSocketRequest)
            throw new BridgeHttpException(400, "PeerJS signaling needs a WebSocket (…/peerjs?key=K&id=ID&token=T)");
        string id = context.Request.Query["id"].ToString();
        string token = context.Request.Query["token"].ToString();
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        var client = new Client(id, token, socket);
        if (!ValidId(id) || token.Length is 0 or > 128)
        {
            await client.SendAsync(Msg("ERROR", payload: new JsonObject { ["msg"] = "No id or token" }), context.RequestAborted).ConfigureAwait(false);
            await CloseAsync(socket).ConfigureAwait(false);
            return;
        }
        if (_devices.Find(id) is not null || !Register(client))
        {
            await client.SendAsync(Msg("ID-TAKEN", payload: new JsonObject { ["msg"] = "ID is taken" }), context.RequestAborted).ConfigureAwait(false);
            await CloseAsync(socket).ConfigureAwait(false);
            return;
        }
        using var running = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var closer = WsSignaling.CloseWhenRevokedAsync(socket, client.Gate, revoked, running.Token);
        try
        {
            await client.SendAsync(Msg("OPEN"), context.RequestAborted).ConfigureAwait(false);
            var buffer = new byte[WsSignaling.MaxMessageBytes];
            while (socket.State == WebSocketState.Open)
            {
                using var alive = CancellationTokenSource.CreateLinkedTokenSource(running.Token);
                alive.CancelAfter(AliveTimeout);
                var (text, closed) = await WsSignaling.ReceiveTextAsync(socket, buffer, alive.Token).ConfigureAwait(false);
                if (closed) break;
                if (text is null) continue;
                JsonObject? message;
                try { message = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject; }
                catch (JsonException) { continue; }
                if (message is null) continue;
                await HandleAsync(client, message, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            _clients.TryRemove(new KeyValuePair<string, Client>(id, client));
            client.Cancel();
            await running.CancelAsync().ConfigureAwait(false);
            await closer.ConfigureAwait(false);
            if (revoked.IsCancellationRequested) await CloseAsync(socket, WebSocketCloseStatus.PolicyViolation, "token revoked").ConfigureAwait(false);
            else await CloseAsync(socket).ConfigureAwait(false);
        }
    }

    private bool Register(Client client)
    {
        while (true)
        {
            if (_clients.TryGetValue(client.Id, out var old))
            {
                if (old.Token != client.Token) return false;
                if (_clients.TryUpdate(client.Id, client, old))
                {
                    old.Cancel();
                    _ = CloseAsync(old.Socket);
                    return true;
                }
                continue;
            }
            if (_clients.Count >= MaxClients) return false;
            if (_clients.TryAdd(client.Id, client)) return true;
        }
    }

    private async Task HandleAsync(Client client, JsonObject message, CancellationToken ct)
    {
        string? type = WsSignaling.Str(message["type"]);
        if (type is null or "HEARTBEAT") return;
        string? dst = WsSignaling.Str(message["dst"]);
        if (dst is null || type is not ("OFFER" or "ANSWER" or "CANDIDATE" or "LEAVE" or "EXPIRE")) return;
        message["src"] = client.Id; // never trust a client's src

        if (_clients.TryGetValue(dst, out var other))
        {
            await other.SendAsync(message, ct).ConfigureAwait(false);
            return;
        }
        if (_devices.Find(dst) is { } device)
        {
            await ToDeviceAsync(client, device, type, message, ct).ConfigureAwait(false);
            return;
        }
        if (type is "OFFER" or "CANDIDATE")
            await client.SendAsync(Msg("EXPIRE", src: dst, dst: client.Id), ct).ConfigureAwait(false);
    }

    private async Task ToDeviceAsync(Client client, DeviceView device, string type, JsonObject message, CancellationToken ct)
    {
        var payload = message["payload"] as JsonObject;
        string? connectionId = WsSignaling.Str(payload?["connectionId"]);
        if (connectionId is null || connectionId.Length > 128) return;
        switch (type)
        {
            case "OFFER":
                string? sdp = payload!["sdp"] is JsonObject sdpObject ? WsSignaling.Str(sdpObject["sdp"]) : WsSignaling.Str(payload["sdp"]);
                if (!device.Paired || !device.Online || !TrickleOffer.TryCreate(sdp, out var offer, out string? error))
                {
                    if (_logger.IsEnabled(LogLevel.Information))
                        _logger.LogInformation("peerjs {Client} → {Device}: offer refused ({Why})", client.Id, device.Id, !device.Paired ? "not paired" : !device.Online ? "offline" : "bad sdp");
                    await client.SendAsync(Msg("EXPIRE", src: device.Id, dst: client.Id), ct).ConfigureAwait(false);
                    return;
                }
                if (client.Offers.Count >= MaxPendingOffers || !client.Offers.TryAdd(connectionId, offer!)) return;
                string kind = WsSignaling.Str(payload["type"]) ?? "data";
                string label = WsSignaling.Str(payload["label"]) ?? "peerjs";
                _ = AnswerAsync(client, device.Id, connectionId, kind, label, offer!);
                break;
            case "CANDIDATE":
                if (client.Offers.TryGetValue(connectionId, out var pending) && payload!["candidate"] is JsonObject c)
                    pending.AddCandidate(WsSignaling.Str(c["candidate"]), WsSignaling.Str(c["sdpMid"]), c["sdpMLineIndex"] is JsonValue iv && iv.TryGetValue(out int i) ? i : null);
                break;
            default:
                break; // ANSWER/LEAVE to a device: it never offers over PeerJS; a closed connection ends by DTLS/SCTP
        }
    }

    private async Task AnswerAsync(Client client, string deviceId, string connectionId, string kind, string label, TrickleOffer offer)
    {
        var ct = client.Lifetime;
        try
        {
            await offer.WaitForCandidatesAsync(_time, ct).ConfigureAwait(false);
            var link = await _devices.ConnectAsync(deviceId, ct).ConfigureAwait(false);
            string answer = await link.OfferAsync(offer.BuildSdp(), label, ct).ConfigureAwait(false);
            await client.SendAsync(Msg("ANSWER", src: deviceId, dst: client.Id, payload: new JsonObject
            {
                ["sdp"] = new JsonObject { ["type"] = "answer", ["sdp"] = answer },
                ["type"] = kind,
                ["connectionId"] = connectionId,
                ["browser"] = "ospbridge",
            }), ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or BridgeHttpException)
        {
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("peerjs {Client} → {Device}: {Error}", client.Id, deviceId, ex.Message);
            try { await client.SendAsync(Msg("EXPIRE", src: deviceId, dst: client.Id), ct).ConfigureAwait(false); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException) { }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Offers.TryRemove(connectionId, out _);
        }
    }

    private static bool ValidId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or ' ');

    private static JsonObject Msg(string type, string? src = null, string? dst = null, JsonObject? payload = null)
    {
        var o = new JsonObject { ["type"] = type };
        if (src is not null) o["src"] = src;
        if (dst is not null) o["dst"] = dst;
        if (payload is not null) o["payload"] = payload;
        return o;
    }

    private static async Task CloseAsync(WebSocket socket, WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure, string? reason = null)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseAsync(status, reason, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private sealed class Client(string id, string token, WebSocket socket) : IDisposable
    {
        private readonly SemaphoreSlim _send = new(1, 1);

        /// <summary>The send gate (one send at a time, the close frame included).</summary>
        public SemaphoreSlim Gate => _send;
        private readonly CancellationTokenSource _lifetime = new();

        public string Id { get; } = id;
        public string Token { get; } = token;
        public WebSocket Socket { get; } = socket;
        public ConcurrentDictionary<string, TrickleOffer> Offers { get; } = new(StringComparer.Ordinal);
        public CancellationToken Lifetime => _lifetime.Token;

        public void Cancel()
        {
            try { _lifetime.Cancel(); } catch (ObjectDisposedException) { }
        }

        public Task SendAsync(JsonNode message, CancellationToken ct) => WsSignaling.SendAsync(Socket, _send, message, ct);

        public void Dispose() => Cancel(); // the semaphore and the source hold no unmanaged state; late senders must not hit ObjectDisposedException
    }
}
