using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OspBridge.PeerFetch.Hosting;

namespace OspBridge.PeerFetch.Tests;

/// <summary>A minimal-API app answering over PeerFetch through <see cref="PeerFetchServer"/> (no TCP listener).</summary>
public class ServerTests
{
    [Theory]
    [InlineData("memory")]
    [InlineData("webrtc")]
    public async Task Minimal_api_answers_over_the_tunnel(string kind)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IServer, PeerFetchServer>();
        await using var app = builder.Build();
        app.MapGet("/hello/{name}", (string name) => $"hi {name}");
        app.MapPost("/echo", async (HttpRequest r) => { var ms = new MemoryStream(); await r.Body.CopyToAsync(ms); return Results.Bytes(ms.ToArray(), "application/octet-stream"); });
        app.MapGet("/stream", async (HttpResponse r) =>
        {
            for (int i = 0; i < 5; i++) { await r.WriteAsync($"chunk{i};"); await r.Body.FlushAsync(); }
        });
        app.MapGet("/trailers", async (HttpResponse r) =>
        {
            r.AppendTrailer("x-checksum", "42");
            await r.WriteAsync("with trailers");
        });
        app.MapGet("/boom", string () => throw new InvalidOperationException("boom"));
        await app.StartAsync();
        var server = (PeerFetchServer)app.Services.GetRequiredService<IServer>();
        using var device = server.CreateDevice();
        await using var link = await Link.CreateAsync(kind);
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(() => device.ServeAsync(link.Device, "peer-app", stop.Token));
        using var http = new HttpClient(new PeerFetchHandler(link.Client)) { BaseAddress = new Uri("http://device.local/") };

        Assert.Equal("hi bob", await http.GetStringAsync("hello/bob"));
        var body = Bodies.Make(3 << 20, seed: 5);
        using (var r = await http.PostAsync("echo", new ByteArrayContent(body))) Assert.Equal(body, await r.Content.ReadAsByteArrayAsync());
        Assert.Equal("chunk0;chunk1;chunk2;chunk3;chunk4;", await http.GetStringAsync("stream"));
        using (var r = await http.GetAsync("trailers", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("with trailers", await r.Content.ReadAsStringAsync());
            Assert.Equal("42", Assert.Single(r.TrailingHeaders.GetValues("x-checksum")));
        }
        using (var r = await http.GetAsync("boom")) Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        using (var r = await http.GetAsync("missing")) Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        await stop.CancelAsync();
        await app.StopAsync();
    }

    [Fact]
    public async Task Either_end_may_serve_on_one_channel()
    {
        // The channel opener (client role) also serves an app; the device opens a request towards it.
        var link = Link.Memory();
        await using var _ = link;
        using var appA = new PeerFetchDevice(new Answer("from A"));
        using var appB = new PeerFetchDevice(new Answer("from B"));
        var connectA = PeerFetchConnection.ConnectAsync(link.Client, Wire.PeerFetchSettings.Default, TimeSpan.FromSeconds(5), null, null, CancellationToken.None);
        var hello = (await link.Device.ReceiveAsync())!.Value;
        await using var b = PeerFetchConnection.Accept(link.Device, hello, Wire.PeerFetchSettings.Default, null, null);
        await using var a = (await connectA)!;
        using var stop = new CancellationTokenSource();
        var serveA = appA.ServeConnectionAsync(a, "B", stop.Token);
        var serveB = appB.ServeConnectionAsync(b, "A", stop.Token);

        static async Task<string> AskAsync(PeerFetchConnection c)
        {
            var s = await c.OpenStreamAsync([new(":method", "GET"), new(":path", "/x"), new(":authority", "peer")], endStream: true, CancellationToken.None);
            var head = await s.Head;
            Assert.Equal("200", PeerFetchHttp.Get(head, ":status"));
            var buffer = new byte[100];
            int n = 0, r;
            while ((r = await s.ReadAsync(buffer.AsMemory(n), CancellationToken.None)) > 0) n += r;
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        Assert.Equal("from B", await AskAsync(a));
        Assert.Equal("from A", await AskAsync(b));
        await stop.CancelAsync();
    }

    private sealed class Answer(string text) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(text) });
    }
}
