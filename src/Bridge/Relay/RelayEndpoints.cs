using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OspBridge.Bridge.Server;

namespace OspBridge.Bridge.Relay;

/// <summary>One ICE server entry as <c>RTCConfiguration.iceServers</c> takes it.</summary>
internal sealed record IceServerEntry(string[] Urls, string Username, string Credential);

/// <summary>
/// The relay's HTTP side (docs/bridge.md, "Relay"): <c>GET /api/relay/ice-servers/{id}</c> →
/// <c>{relay, iceServers}</c> for a client about to connect to device <c>{id}</c> (the relay's UDP, TCP and — when the bridge
/// serves HTTPS — TLS addresses, one set of credentials), and <c>GET /api/relay</c> → the
/// relay's numbers. Both behind the bridge token like every <c>/api</c> path.
/// </summary>
internal sealed class RelayEndpoints(TurnRelayServer? relay, RelayMode mode, DeviceRegistry devices)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The mode.</summary>
    public RelayMode Mode => mode;

    /// <summary>Maps the routes.</summary>
    public void Map(WebApplication app)
    {
        // WHEP/WHIP (RFC 9725 §4.6): the 201 of a POST carries the relay as Link rel="ice-server" headers when the
        // client should use it (a client that gathered without it can apply it with an ICE restart).
        app.Use(async (ctx, next) =>
        {
            if (HttpMethods.IsPost(ctx.Request.Method) && WhepDevice(ctx.Request.Path) is { } device)
            {
                ctx.Response.OnStarting(async () =>
                {
                    if (ctx.Response.StatusCode != StatusCodes.Status201Created) return;
                    try
                    {
                        foreach (var s in await IceServersAsync(ctx, device, ctx.RequestAborted).ConfigureAwait(false))
                            foreach (string url in s.Urls)
                                ctx.Response.Headers.Append("Link", LinkHeader(s with { Urls = [url] }));
                    }
                    catch (Exception ex) when (ex is BridgeHttpException or OperationCanceledException or OspBridge.Osp.OspException) { }
                });
            }
            await next(ctx).ConfigureAwait(false);
        });
        // A CancellationToken parameter (bound to RequestAborted), not HttpContext: a Func<HttpContext, Task<IResult>> would
        // bind as a RequestDelegate and its result would never be written.
        app.MapGet("/api/relay", async (CancellationToken cancel) => Results.Json(new
        {
            mode = mode.ToString().ToLowerInvariant(),
            stats = relay is null ? null : await relay.StatsAsync(cancel).ConfigureAwait(false),
        }, Json));
        app.MapGet("/api/relay/ice-servers/{id}", async (HttpContext ctx, string id) =>
        {
            var servers = await IceServersAsync(ctx, id, ctx.RequestAborted).ConfigureAwait(false);
            return Results.Json(new { relay = servers.Count > 0, iceServers = servers }, Json);
        });
    }

    /// <summary>
    /// The ICE servers a client of <paramref name="ctx"/> should use to reach device <paramref name="id"/>: the bridge's
    /// TURN relay (credentials minted for this session, relayed address on the bridge's side of the device's subnet)
    /// when <see cref="Mode"/> says so, else none.
    /// </summary>
    public async Task<IReadOnlyList<IceServerEntry>> IceServersAsync(HttpContext ctx, string id, CancellationToken cancellationToken)
    {
        if (relay is null || mode == RelayMode.Never) return [];
        var link = await devices.ConnectAsync(id, cancellationToken).ConfigureAwait(false);
        var device = link.Connection.Connection.RemoteEndPoint.Address;
        if (device.IsIPv4MappedToIPv6) device = device.MapToIPv4();
        var towardsDevice = LocalAddressTowards(device);
        var clientLocal = ctx.Connection.LocalIpAddress is { } l && l.IsIPv4MappedToIPv6 ? l.MapToIPv4() : ctx.Connection.LocalIpAddress;
        var clientRemote = ctx.Connection.RemoteIpAddress;
        if (towardsDevice is null || clientLocal is null) return [];
        if (mode == RelayMode.Auto && (clientRemote is null || IPAddress.IsLoopback(clientRemote) || clientLocal.Equals(towardsDevice))) return [];
        var (user, password) = relay.MintIceServer(towardsDevice);
        string host = clientLocal.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{clientLocal}]" : clientLocal.ToString();
        // UDP first (what clients prefer), then TCP and TLS for clients whose network passes no UDP (RFC 5766 §2.1).
        List<string> urls = [$"turn:{host}:{relay.Port}?transport=udp"];
        if (relay.TcpPort is { } tcp) urls.Add($"turn:{host}:{tcp}?transport=tcp");
        if (relay.TlsPort is { } tls) urls.Add($"turns:{host}:{tls}?transport=tcp");
        return [new IceServerEntry([.. urls], user, password)];
    }

    /// <summary>The device id of a <c>/whep/{id}</c> or <c>/whip/{id}</c> path, else null.</summary>
    public static string? WhepDevice(PathString path) =>
        path.Value is { } p && p.Split('/', StringSplitOptions.RemoveEmptyEntries) is { Length: 2 } parts && parts[0] is "whep" or "whip" ? parts[1] : null;

    /// <summary>An RFC 9725 §4.6 Link header value for <paramref name="s"/>.</summary>
    public static string LinkHeader(IceServerEntry s) =>
        $"<{s.Urls[0]}>; rel=\"ice-server\"; username=\"{s.Username}\"; credential=\"{s.Credential}\"; credential-type=\"password\"";

    /// <summary>The bridge's source address for packets to <paramref name="peer"/> (a connected UDP socket sends nothing).</summary>
    public static IPAddress? LocalAddressTowards(IPAddress peer)
    {
        try
        {
            using var s = new Socket(peer.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            s.Connect(new IPEndPoint(peer, 9));
            return (s.LocalEndPoint as IPEndPoint)?.Address;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
