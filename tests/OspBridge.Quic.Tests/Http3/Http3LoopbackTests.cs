using System.Net;
using OspBridge.Crypto.Tls;
using OspBridge.Quic.Http3;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Quic.Tests.Http3;

/// <summary>Our HTTP/3 client against our HTTP/3 server on 127.0.0.1.</summary>
public sealed class Http3LoopbackTests : IAsyncLifetime
{
    private Http3Server _server = null!;
    private readonly string _root = Directory.CreateTempSubdirectory("ospb-h3-").FullName;
    private static readonly System.Security.Cryptography.X509Certificates.X509Certificate2 Cert = SelfSignedCertificate.CreateTlsServer("localhost");

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_root, "index.html"), "<h1>hello over h3</h1>");
        _server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = Cert, DocumentRoot = _root,
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, true);
    }

    private Task<Http3Client> ConnectAsync(CancellationToken ct) => Http3Client.ConnectAsync(new Http3ClientOptions
    {
        Host = "127.0.0.1", Port = _server.LocalEndPoint.Port,
        RemoteCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(Cert.RawData),
    }, ct);

    [Fact]
    public async Task Get_file_numeric_body_404_and_post_echo_on_one_connection()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var client = await ConnectAsync(cts.Token);

        var page = new MemoryStream();
        var r1 = await client.GetAsync("/", page, cts.Token);
        Assert.Equal(200, r1.StatusCode);
        Assert.Equal("<h1>hello over h3</h1>", System.Text.Encoding.UTF8.GetString(page.ToArray()));
        Assert.Contains(r1.Headers, h => h.Name == "content-type" && h.Value.StartsWith("text/html", StringComparison.Ordinal));

        var big = new MemoryStream();
        var r2 = await client.GetAsync("/1000000", big, cts.Token);
        Assert.Equal(200, r2.StatusCode);
        Assert.Equal(1_000_000, big.Length);
        Assert.True(big.ToArray().AsSpan().IndexOfAnyExcept((byte)0) < 0);

        var r3 = await client.GetAsync("/missing.txt", null, cts.Token);
        Assert.Equal(404, r3.StatusCode);
        var r4 = await client.GetAsync("/../../etc/passwd", null, cts.Token);
        Assert.Equal(404, r4.StatusCode);

        byte[] upload = new byte[300_000];
        new Random(5).NextBytes(upload);
        var echo = new MemoryStream();
        var r5 = await client.SendAsync("POST", "/echo", upload, echo, cts.Token);
        Assert.Equal(200, r5.StatusCode);
        Assert.Equal(upload, echo.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(16_383)]
    [InlineData(16_384)]
    [InlineData(65_536)]
    [InlineData(5_000_017)]
    public async Task Files_are_served_byte_exact_whatever_their_size(int size)
    {
        // Chunks are read straight into the stream's send ring behind room for the DATA header: full chunks, a short
        // last one (shorter header, data moved down), and chunks where the ring wraps (buffered) all occur here.
        var data = new byte[size];
        new Random(size).NextBytes(data);
        await File.WriteAllBytesAsync(Path.Combine(_root, $"f{size}.bin"), data);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var client = await ConnectAsync(cts.Token);
        var got = new MemoryStream();
        var r = await client.GetAsync($"/f{size}.bin", got, cts.Token);
        Assert.Equal(200, r.StatusCode);
        Assert.Equal(size, got.Length);
        Assert.True(data.AsSpan().SequenceEqual(got.ToArray()), "file body differs");
    }

    [Fact]
    public async Task Parallel_requests_on_one_connection()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var client = await ConnectAsync(cts.Token);
        var tasks = Enumerable.Range(1, 20).Select(async i =>
        {
            var ms = new MemoryStream();
            var r = await client.GetAsync("/" + (i * 1000), ms, cts.Token);
            return (r.StatusCode, ms.Length, i);
        }).ToList();
        foreach (var t in tasks)
        {
            var (status, len, i) = await t;
            Assert.Equal(200, status);
            Assert.Equal(i * 1000, len);
        }
    }
}
