using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace OspBridge.Bridge.Demo;

/// <summary>
/// The demo-only part of the bridge's HTTP API, under <c>/api/demo</c> (so behind the bridge's token like all of
/// <c>/api</c>): what the story page (<c>/demo/</c>, src/Bridge/wwwroot/demo) needs to run on its own and report back.
/// <list type="bullet">
/// <item><c>GET /api/demo</c> → <c>{deviceId, deviceName, frames, talkSeconds}</c></item>
/// <item><c>GET /api/demo/pin</c> → 200 <c>{pin}</c>, the PIN the device printed last (what a person reads off the
/// doorbell), or 404 while there is none</item>
/// <item><c>POST /api/demo/report</c> <c>{step, ok, text, data}</c> → 204: one observation of the browser</item>
/// </list>
/// Registered only by <c>ospbridge demo</c> (<see cref="Server.BridgeServerOptions.MapExtra"/>).
/// </summary>
internal sealed class DemoSession
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly Channel<JsonElement> _reports = Channel.CreateBounded<JsonElement>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropWrite });
    private string? _pin;

    public DemoSession(string deviceId, string deviceName, int frames, int talkSeconds)
    {
        DeviceId = deviceId;
        DeviceName = deviceName;
        Frames = frames;
        TalkSeconds = talkSeconds;
    }

    public string DeviceId { get; }

    public string DeviceName { get; }

    /// <summary>Frames the browser must decode.</summary>
    public int Frames { get; }

    /// <summary>Seconds of talk-back the browser sends.</summary>
    public int TalkSeconds { get; }

    /// <summary>The PIN the device printed last.</summary>
    public string? Pin
    {
        get => Volatile.Read(ref _pin);
        set => Volatile.Write(ref _pin, value);
    }

    /// <summary>The browser's observations, in order.</summary>
    public ChannelReader<JsonElement> Reports => _reports.Reader;

    /// <summary>Adds the demo endpoints.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/demo", () => Results.Json(new { deviceId = DeviceId, deviceName = DeviceName, frames = Frames, talkSeconds = TalkSeconds }, Json));
        app.MapGet("/api/demo/pin", () => Pin is { } pin ? Results.Json(new { pin }, Json) : Results.Json(new { error = "no PIN shown yet" }, Json, statusCode: 404));
        app.MapPost("/api/demo/report", async (HttpContext ctx) =>
        {
            if (ctx.Request.ContentLength is null or > 64 * 1024) return Results.Json(new { error = "body length 1..65536 required" }, Json, statusCode: 413);
            try
            {
                using var doc = await JsonDocument.ParseAsync(ctx.Request.Body, new JsonDocumentOptions { MaxDepth = 8 }, ctx.RequestAborted).ConfigureAwait(false);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("step", out var step) || step.ValueKind != JsonValueKind.String)
                    return Results.Json(new { error = "expected {step, ok, text, data}" }, Json, statusCode: 400);
                _reports.Writer.TryWrite(doc.RootElement.Clone());
                return Results.NoContent();
            }
            catch (JsonException)
            {
                return Results.Json(new { error = "bad JSON" }, Json, statusCode: 400);
            }
        });
    }
}
