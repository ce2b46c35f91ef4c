using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OspBridge.Interop.Tests.PeerFetch;

/// <summary>Deterministic bodies: byte i is (i * 31 + i / 251 + seed) mod 256.</summary>
internal static class TestBodies
{
    public static byte[] Make(long n, int seed = 0)
    {
        var b = new byte[n];
        Fill(b, 0, seed);
        return b;
    }

    /// <summary>Fills <paramref name="chunk"/> with bytes <paramref name="offset"/>.. of the body (for bodies too big to hold).</summary>
    public static void Fill(Span<byte> chunk, long offset, int seed = 0)
    {
        for (int j = 0; j < chunk.Length; j++)
        {
            long i = offset + j;
            chunk[j] = (byte)((i * 31) + (i / 251) + seed);
        }
    }

    /// <summary>SHA-256 of the n-byte body, computed in chunks.</summary>
    public static byte[] Sha256(long n, int seed = 0)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var chunk = new byte[1 << 16];
        for (long offset = 0; offset < n; offset += chunk.Length)
        {
            int len = (int)Math.Min(chunk.Length, n - offset);
            Fill(chunk.AsSpan(0, len), offset, seed);
            hash.AppendData(chunk, 0, len);
        }
        return hash.GetHashAndReset();
    }
}

/// <summary>
/// The local HTTP origin the device proxies to: Kestrel on 127.0.0.1 (the test process's own loopback), with the
/// endpoints the Chromium PeerFetch tests use. It records concurrency and aborted requests so the tests can assert what
/// the device did to the origin.
/// </summary>
internal sealed class PeerFetchTestOrigin : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _inFlight;
    private int _maxInFlight;
    private int _disposed;

    private PeerFetchTestOrigin(WebApplication app) => _app = app;

    public Uri Uri { get; private set; } = null!;
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);
    public int InFlight => Volatile.Read(ref _inFlight);
    /// <summary>Completed when a /api/wait-abort or /api/drip request reached the origin.</summary>
    public TaskCompletionSource Started { get; private set; } = NewTcs();
    /// <summary>Completed when such a request was aborted by the device (its RequestAborted fired).</summary>
    public TaskCompletionSource Aborted { get; private set; } = NewTcs();
    /// <summary>Completed when a /api/held request reached the origin.</summary>
    public TaskCompletionSource HeldStarted { get; } = NewTcs();
    /// <summary>Complete it to let /api/held answer (not before 3 s after it arrived either).</summary>
    public TaskCompletionSource HeldRelease { get; } = NewTcs();

    private static TaskCompletionSource NewTcs() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts counting <see cref="MaxInFlight"/> afresh.</summary>
    public void ResetMaxInFlight() => Volatile.Write(ref _maxInFlight, 0);

    public void ResetAbortWatch()
    {
        Started = NewTcs();
        Aborted = NewTcs();
    }

    /// <summary>Starts the origin on 127.0.0.1 of this process, or on <paramref name="listenSocket"/> (a listening TCP
    /// socket made elsewhere, e.g. inside a test network namespace; the origin then serves that namespace's loopback).</summary>
    public static async Task<PeerFetchTestOrigin> StartAsync(System.Net.Sockets.Socket? listenSocket = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            if (listenSocket is null) k.Listen(IPAddress.Loopback, 0);
            else k.ListenHandle((ulong)listenSocket.Handle);
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        var o = new PeerFetchTestOrigin(app);
        app.Use(async (ctx, next) =>
        {
            int now = Interlocked.Increment(ref o._inFlight);
            int seen;
            while (now > (seen = Volatile.Read(ref o._maxInFlight)) && Interlocked.CompareExchange(ref o._maxInFlight, now, seen) != seen) { }
            try { await next(ctx); }
            finally { Interlocked.Decrement(ref o._inFlight); }
        });
        app.MapGet("/api/json", () => Results.Json(new { hello = "api", n = 42 }));
        app.MapGet("/api/bytes/{n:long}", (long n, int? seed) => Results.Bytes(TestBodies.Make(n, seed ?? 0), "application/octet-stream"));
        app.MapGet("/api/nocontent", () => Results.NoContent());
        app.MapGet("/api/headers", (HttpRequest r) => Results.Json(r.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString())));
        app.MapGet("/secret", () => "secret");
        app.MapMethods("/api/echo", ["POST", "PUT", "PATCH"], async (HttpRequest r) =>
        {
            var ms = new MemoryStream();
            await r.Body.CopyToAsync(ms);
            return Results.Bytes(ms.ToArray(), r.ContentType ?? "application/octet-stream");
        });
        app.MapGet("/api/slow", async (int ms, CancellationToken ct) =>
        {
            await Task.Delay(ms, ct);
            return Results.Json(new { slept = ms });
        });
        // Never answers until aborted (at most 30 s).
        app.MapGet("/api/wait-abort", async (CancellationToken ct) =>
        {
            o.Started.TrySetResult();
            try { await Task.Delay(TimeSpan.FromSeconds(30), ct); }
            catch (OperationCanceledException) { o.Aborted.TrySetResult(); throw; }
            return Results.Text("not aborted");
        });
        // Sends 256 KiB of body at once, then holds the rest back until aborted (at most 30 s).
        app.MapGet("/api/drip", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = 10 << 20;
            await ctx.Response.Body.WriteAsync(TestBodies.Make(256 << 10));
            await ctx.Response.Body.FlushAsync();
            o.Started.TrySetResult();
            try { await Task.Delay(TimeSpan.FromSeconds(30), ctx.RequestAborted); }
            catch (OperationCanceledException) { o.Aborted.TrySetResult(); return; }
            ctx.Abort();
        });
        // A generated body of n bytes (TestBodies.Fill) with Content-Length, in 64 KiB writes, never held whole in memory.
        app.MapGet("/api/gen/{n:long}", async (long n, int? seed, HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = n;
            var chunk = new byte[64 << 10];
            for (long offset = 0; offset < n; offset += chunk.Length)
            {
                int len = (int)Math.Min(chunk.Length, n - offset);
                TestBodies.Fill(chunk.AsSpan(0, len), offset, seed ?? 0);
                await ctx.Response.Body.WriteAsync(chunk.AsMemory(0, len), ctx.RequestAborted);
            }
        });
        // A slow origin: no byte before 3 s and before the test releases it (at most 60 s), then 20 KiB trickled in
        // 1 KiB writes 100 ms apart (chunked).
        app.MapGet("/api/held", async (HttpContext ctx) =>
        {
            o.HeldStarted.TrySetResult();
            var minimum = Task.Delay(TimeSpan.FromSeconds(3), ctx.RequestAborted);
            await Task.WhenAll(minimum, o.HeldRelease.Task.WaitAsync(TimeSpan.FromSeconds(60), ctx.RequestAborted));
            ctx.Response.ContentType = "application/octet-stream";
            var body = TestBodies.Make(20 << 10, seed: 5);
            for (int offset = 0; offset < body.Length; offset += 1024)
            {
                await ctx.Response.Body.WriteAsync(body.AsMemory(offset, 1024), ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                await Task.Delay(100, ctx.RequestAborted);
            }
        });
        // A streamed body of unknown length (chunked): n bytes of TestBodies.Make(n) in 64 KiB writes, flushed each time.
        app.MapGet("/api/stream/{n:long}", async (long n, HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/octet-stream";
            var body = TestBodies.Make(n);
            for (int offset = 0; offset < body.Length; offset += 64 << 10)
            {
                await ctx.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(64 << 10, body.Length - offset)), ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            }
        });
        var listenAt = listenSocket?.LocalEndPoint as IPEndPoint;
        await app.StartAsync();
        // Kestrel made its own socket over the descriptor and closes it when it stops: ours must never close it too.
        listenSocket?.SafeHandle.SetHandleAsInvalid();
        o.Uri = listenAt is not null
            ? new Uri($"http://{listenAt}/")
            : new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return o;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
