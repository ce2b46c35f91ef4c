using System.Reflection;
using Microsoft.AspNetCore.Http;

namespace OspBridge.Bridge.Server;

/// <summary>The web UI: files of src/Bridge/wwwroot embedded in the assembly, served with a strict CSP.</summary>
internal static class StaticAssets
{
    private static readonly Dictionary<string, string> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".json"] = "application/json",
    };

    private static readonly Dictionary<string, byte[]> Files = Load();

    private static Dictionary<string, byte[]> Load()
    {
        var asm = Assembly.GetExecutingAssembly();
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string name in asm.GetManifestResourceNames().Where(n => n.StartsWith("wwwroot/", StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            files["/" + name["wwwroot/".Length..].Replace('\\', '/')] = ms.ToArray();
        }
        return files;
    }

    /// <summary>Names of the embedded files (for tests).</summary>
    public static IReadOnlyCollection<string> Names => Files.Keys;

    /// <summary>Serves <paramref name="path"/> ("/" is index.html); false when there is no such file.</summary>
    public static async Task<bool> TryServeAsync(HttpContext context, string path)
    {
        if (path == "/") path = "/index.html";
        if (!Files.TryGetValue(path, out var bytes)) return false;
        var response = context.Response;
        response.ContentType = Types.GetValueOrDefault(Path.GetExtension(path), "application/octet-stream");
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'";
        response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(context.Request.Method)) await response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        return true;
    }
}
