using Microsoft.AspNetCore.Http;
using OspBridge.Bridge.Server;
using OspBridge.Testing;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>`ospbridge serve` serves the PeerFetch browser module (interop/peerfetch/peerfetch.js) at /peerfetch.js, byte for byte.</summary>
public sealed class PeerFetchModuleAssetTests
{
    [Fact]
    public async Task Serve_serves_the_peerfetch_module_as_javascript()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        var body = new MemoryStream();
        context.Response.Body = body;
        Assert.True(await StaticAssets.TryServeAsync(context, "/peerfetch.js"));
        Assert.StartsWith("text/javascript", context.Response.ContentType, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(RepoPaths.Interop, "peerfetch", "peerfetch.js")), body.ToArray());
        Assert.Contains("export class PeerFetchClient", System.Text.Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
    }
}
