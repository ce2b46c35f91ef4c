using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Server;

/// <summary>One application's grant on a paired device, as <c>GET /api/grants</c> lists it.</summary>
/// <param name="App">The application (LP2P nickname / origin) granted the use of the device.</param>
/// <param name="Granted">When it was granted.</param>
internal sealed record GrantView(string App, DateTimeOffset Granted);

/// <summary>A paired device with the grants the bridge's trust store holds for it.</summary>
/// <param name="Id">The device id.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Fp">Its agent fingerprint.</param>
/// <param name="Grants">Applications granted its use (LP2P per-app grants, docs/trust.md).</param>
/// <param name="Withheld">The user revoked the bridge's own grant: the bridge does not use the device until allowed again.</param>
internal sealed record DeviceGrantsView(string Id, string Name, string Fp, IReadOnlyList<GrantView> Grants, bool Withheld = false);

/// <summary>
/// Who may use what, for the UI's "Access" lists (docs/bridge.md, "Grants and browser tokens"): the LP2P per-app
/// grants of each paired device (<c>GET /api/grants</c>, <c>GET /api/devices/{id}/grants</c>,
/// <c>DELETE /api/devices/{id}/grants?app=…</c>), and which browser token is the caller's own
/// (<c>GET /api/tokens/self</c>). Behind the same bearer token / session cookie as the rest of <c>/api</c>.
/// </summary>
internal static class GrantEndpoints
{
    /// <summary>Longest app name accepted in a query (the trust store's name limit).</summary>
    public const int MaxAppLength = OspTrustStore.MaxNameLength;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Maps the endpoints.</summary>
    public static void Map(IEndpointRouteBuilder app, DeviceRegistry devices, BridgeTokens tokens)
    {
        var trust = devices.Trust;
        app.MapGet("/api/grants", () => Results.Json(List(trust).Select(d => d with { Withheld = devices.IsWithheld(d.Fp) }), Json));
        app.MapGet("/api/devices/{id}/grants", (string id) =>
            List(trust).FirstOrDefault(d => d.Id == id) is { } d ? Results.Json(d.Grants, Json) : throw new BridgeHttpException(404, $"no paired device {id}"));
        app.MapDelete("/api/devices/{id}/grants", async (string id, HttpContext ctx) =>
        {
            string? name = ctx.Request.Query["app"].Count == 1 ? ctx.Request.Query["app"].ToString() : null;
            if (string.IsNullOrEmpty(name) || name.Length > MaxAppLength) throw new BridgeHttpException(400, "name one application: ?app=<app>");
            var device = List(trust).FirstOrDefault(d => d.Id == id) ?? throw new BridgeHttpException(404, $"no paired device {id}");
            if (name == Pairing.PeerTrust.App)
            {
                // The bridge's own grant: "this bridge may no longer use the device" — it closes its session and stays
                // away until POST /api/devices/{id}/pair allows it again (docs/bridge.md, "The bridge's own grant").
                if (device.Grants.All(g => g.App != name) && devices.IsWithheld(device.Fp)) throw new BridgeHttpException(404, $"{name} has no grant on {id}");
                await devices.WithholdAsync(id).ConfigureAwait(false);
                return Results.NoContent();
            }
            return trust.RevokeGrant(device.Fp, name) ? Results.NoContent() : throw new BridgeHttpException(404, $"{name} has no grant on {id}");
        });
        app.MapGet("/api/tokens/self", (HttpContext ctx) =>
            Results.Json(new { id = tokens.IdOf(BridgeAuth.Credential(ctx.Request)), admin = tokens.IsAdmin(BridgeAuth.Credential(ctx.Request)) }, Json));
    }

    /// <summary>Every trusted device with its grants (fresh from the trust file).</summary>
    public static IReadOnlyList<DeviceGrantsView> List(OspTrustStore trust)
    {
        trust.Reload();
        return trust.TrustedPeers
            .Select(p => new DeviceGrantsView(p.Id, p.Name ?? p.Id, p.Fingerprint, p.Grants.Select(g => new GrantView(g.App, g.Granted)).ToList()))
            .ToList();
    }
}
