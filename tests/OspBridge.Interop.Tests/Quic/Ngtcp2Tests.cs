using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Tls;
using OspBridge.Quic.Http3;
using OspBridge.Crypto.Certificates;
using OspBridge.Testing.Processes;

namespace OspBridge.Interop.Tests.Quic;

/// <summary>
/// Loopback interop with Debian's ngtcp2 examples (gtlsclient/gtlsserver 0.12.1, GnuTLS, ALPN h3): byte-exact
/// downloads both directions, their loss flags, cipher restrictions, Retry and key update. Generated bodies are
/// zero bytes on both servers. Every process runs with a timeout and is killed when it overruns.
/// </summary>
[Collection("ngtcp2")]
public sealed class Ngtcp2Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ospb-ngtcp2-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Tool(string name)
    {
        foreach (var d in new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin" })
            if (File.Exists(Path.Combine(d, name))) return Path.Combine(d, name);
        Assert.Fail($"{name} is not installed (Debian packages ngtcp2-client / ngtcp2-server); test.sh installs them");
        return "";
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var run = await ChildProcess.RunAsync(psi, timeout);
        return run.TimedOut ? (-1, $"TIMEOUT after {timeout}\n{run.StdOut}{run.StdErr}") : (run.ExitCode, run.StdOut + run.StdErr);
    }

    private static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;

    private static void AssertZeros(string file, long size)
    {
        Assert.True(File.Exists(file), $"{file} was not downloaded");
        Assert.Equal(size, new FileInfo(file).Length);
        using var fs = File.OpenRead(file);
        var buf = new byte[1 << 16];
        int n;
        while ((n = fs.Read(buf)) > 0)
            Assert.True(buf.AsSpan(0, n).IndexOfAnyExcept((byte)0) < 0, "downloaded body differs from the generated zero bytes");
    }

    public static TheoryData<long, string> ClientVariants => new()
    {
        { 1_000_000, "" },
        { 50_000_000, "" },
        { 1_000_000, "-t 0.1 -r 0.1" },
        { 50_000_000, "-t 0.1 -r 0.1" },
        { 1_000_000, "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305" },
        { 1_000_000, "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM" },
        { 100_000_000, "--key-update=20ms" }, // the download must outlast the interval (datagrams of up to 64 KiB move 10 MB in ≈ 30 ms)
    };

    [Fact]
    public async Task Gtlsclient_downloads_while_our_server_updates_keys()
    {
        string gtlsclient = Tool("gtlsclient");
        await using var server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Certificate = SelfSignedCertificate.CreateTlsServer("localhost"),
            // every 150 packets, and at least 3 PTO (≈ 80 ms with ngtcp2's max_ack_delay) after the previous update was
            // confirmed (RFC 9001 §6.5): 100 MB is ≈ 1 600 packets once Path MTU discovery reached 64 KiB (6 200 at the old 16 KiB ceiling) and lasts
            // ≈ 0.4–1 s here (10 MB lasted ≈ 0.1 s: room for one update only)
            KeyUpdateInterval = 150,
        });
        OspBridge.Quic.QuicConnection? accepted = null;
        server.ConnectionAccepted = c => accepted = c;
        int port = server.LocalEndPoint.Port;
        string dl = Directory.CreateDirectory(Path.Combine(_dir, "dl")).FullName;
        var (code, output) = await RunAsync(gtlsclient,
            ["-q", "--download=" + dl, "--exit-on-all-streams-close", "--timeout=30s", "127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/100000000"],
            TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"gtlsclient exit {code}: {Tail(output)}");
        AssertZeros(Path.Combine(dl, "100000000"), 100_000_000);
        Assert.NotNull(accepted);
        int updates = KeyUpdates(accepted!);
        Assert.True(updates >= 2, $"only {updates} key updates happened");
        // ngtcp2 acknowledged our largest Path MTU probe (65 507 bytes) on loopback and took the data in datagrams that size
        Assert.Equal(OspBridge.Quic.QuicConnectionOptions.MaxSupportedUdpPayloadSize, accepted!.Core.CurrentMaxDatagramSize);
    }

    /// <summary>The connection core is internal to the QUIC layer; its key-update counter gives a real assertion.</summary>
    private static int KeyUpdates(OspBridge.Quic.QuicConnection connection)
    {
        var core = typeof(OspBridge.Quic.QuicConnection).GetField("_core", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)?.GetValue(connection);
        Assert.True(core is not null, "QuicConnection._core not found (internal layout changed)");
        return (int)core!.GetType().GetProperty("KeyUpdates")!.GetValue(core)!;
    }

    [Theory]
    [MemberData(nameof(ClientVariants))]
    public async Task Gtlsclient_downloads_from_our_server(long size, string extra)
    {
        string gtlsclient = Tool("gtlsclient");
        await using var server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Certificate = SelfSignedCertificate.CreateTlsServer("localhost"),
        });
        OspBridge.Quic.QuicConnection? accepted = null;
        server.ConnectionAccepted = c => accepted = c;
        int port = server.LocalEndPoint.Port;
        string dl = Directory.CreateDirectory(Path.Combine(_dir, "dl")).FullName;
        var args = new List<string> { "-q", $"--download={dl}", "--exit-on-all-streams-close", "--timeout=30s" };
        args.AddRange(extra.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        args.AddRange(["127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/{size}"]);
        var (code, output) = await RunAsync(gtlsclient, args, TimeSpan.FromSeconds(size > 20_000_000 ? 180 : 90));
        Assert.True(code == 0, $"gtlsclient exit {code}: {Tail(output)}");
        AssertZeros(Path.Combine(dl, size.ToString()), size);
        if (extra.Contains("--key-update", StringComparison.Ordinal))
            Assert.True(KeyUpdates(accepted!) >= 1, "the server saw no key update from gtlsclient");
    }

    [Fact]
    public async Task Gtlsclient_posts_to_our_server_and_gets_the_body_echoed()
    {
        string gtlsclient = Tool("gtlsclient");
        await using var server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Certificate = SelfSignedCertificate.CreateTlsServer("localhost"),
        });
        int port = server.LocalEndPoint.Port;
        string upload = Path.Combine(_dir, "upload.bin");
        var data = new byte[2_000_000];
        new Random(17).NextBytes(data);
        await File.WriteAllBytesAsync(upload, data);
        string dl = Directory.CreateDirectory(Path.Combine(_dir, "dl")).FullName;
        var (code, output) = await RunAsync(gtlsclient,
            ["-q", "--download=" + dl, "--exit-on-all-streams-close", "--timeout=30s", "-m", "POST", "-d", upload, "127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/echo"],
            TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"gtlsclient exit {code}: {Tail(output)}");
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(dl, "echo")));
    }

    [Fact]
    public async Task Gtlsclient_with_a_client_certificate_passes_our_mutual_tls()
    {
        string gtlsclient = Tool("gtlsclient");
        using var clientCert = SelfSignedCertificate.CreateTlsServer("client");
        string keyPem = Path.Combine(_dir, "ckey.pem"), certPem = Path.Combine(_dir, "ccert.pem");
        await File.WriteAllTextAsync(keyPem, clientCert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        await File.WriteAllTextAsync(certPem, clientCert.ExportCertificatePem());
        byte[]? seen = null;
        await using var server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Certificate = SelfSignedCertificate.CreateTlsServer("localhost"),
            RequireClientCertificate = true,
            // OSP-style pinning: accept exactly this SPKI.
            ValidateClientCertificate = c => { seen = c.RawData; return CertificateFingerprint.OfSpki(c, System.Security.Cryptography.HashAlgorithmName.SHA256).AsSpan().SequenceEqual(CertificateFingerprint.OfSpki(clientCert, System.Security.Cryptography.HashAlgorithmName.SHA256)); },
        });
        int port = server.LocalEndPoint.Port;
        string dl = Directory.CreateDirectory(Path.Combine(_dir, "dl")).FullName;
        var (code, output) = await RunAsync(gtlsclient,
            ["-q", "--download=" + dl, "--exit-on-all-streams-close", "--timeout=30s", "--key=" + keyPem, "--cert=" + certPem,
             "127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/100000"],
            TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"gtlsclient exit {code}: {Tail(output)}");
        AssertZeros(Path.Combine(dl, "100000"), 100_000);
        Assert.Equal(clientCert.RawData, seen);

        // Without a certificate the handshake must fail (certificate_required) and nothing is downloaded.
        string dl2 = Directory.CreateDirectory(Path.Combine(_dir, "dl2")).FullName;
        var (code2, _) = await RunAsync(gtlsclient,
            ["-q", "--download=" + dl2, "--exit-on-all-streams-close", "--timeout=5s", "127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/100000"],
            TimeSpan.FromSeconds(60));
        Assert.False(File.Exists(Path.Combine(dl2, "100000")) && new FileInfo(Path.Combine(dl2, "100000")).Length == 100_000,
            $"download without a client certificate succeeded (exit {code2})");
    }

    [Fact]
    public async Task Gtlsclient_downloads_through_our_retry()
    {
        string gtlsclient = Tool("gtlsclient");
        await using var server = await Http3Server.StartAsync(new Http3ServerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Certificate = SelfSignedCertificate.CreateTlsServer("localhost"),
            UseRetry = true,
        });
        int port = server.LocalEndPoint.Port;
        string dl = Directory.CreateDirectory(Path.Combine(_dir, "dl")).FullName;
        var (code, output) = await RunAsync(gtlsclient,
            ["--download=" + dl, "--exit-on-all-streams-close", "--timeout=30s", "127.0.0.1", port.ToString(), $"https://127.0.0.1:{port}/1000000"],
            TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"gtlsclient exit {code}: {Tail(output)}");
        // gtlsclient's QUIC dump shows the Retry packet it received before the second Initial.
        Assert.Contains("type=Retry", output, StringComparison.Ordinal);
        Assert.Contains("retry_source_connection_id", output, StringComparison.Ordinal);
        AssertZeros(Path.Combine(dl, "1000000"), 1_000_000);
    }

    private async Task<(Process Server, int Port)> StartGtlsserverAsync(params string[] extra)
    {
        string gtlsserver = Tool("gtlsserver");
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        string keyPem = Path.Combine(_dir, "key.pem"), certPem = Path.Combine(_dir, "cert.pem");
        await File.WriteAllTextAsync(keyPem, cert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        await File.WriteAllTextAsync(certPem, cert.ExportCertificatePem());
        string www = Directory.CreateDirectory(Path.Combine(_dir, "www")).FullName;
        int port = FreeUdpPort();
        var psi = new ProcessStartInfo(gtlsserver) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-q", "-d", www, "--max-dyn-length=60000000", .. extra, "127.0.0.1", port.ToString(), keyPem, certPem]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        await Task.Delay(300);
        Assert.False(p.HasExited, "gtlsserver exited at start");
        return (p, port);
    }

    private static void Stop(Process p)
    {
        if (!p.HasExited) p.Kill(entireProcessTree: true);
        p.WaitForExit(5000);
        p.Dispose();
    }

    /// <summary>Counts bytes and checks they are all zero without keeping them.</summary>
    private sealed class ZeroCheckStream : Stream
    {
        public long Count;
        public bool AllZero = true;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Count += buffer.Length;
            AllZero &= buffer.IndexOfAnyExcept((byte)0) < 0;
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }

    public static TheoryData<long, string> ServerVariants => new()
    {
        { 1_000_000, "" },
        { 50_000_000, "" },
        { 1_000_000, "-t 0.1 -r 0.1" },
        { 50_000_000, "-t 0.1 -r 0.1" },
        { 1_000_000, "-V" },
        { 1_000_000, "--verify-client" }, // GnuTLS CertificateRequest → our client Certificate + CertificateVerify
        { 1_000_000, "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305" },
        { 1_000_000, "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM" },
    };

    [Fact]
    public async Task Our_client_updates_keys_while_uploading_to_gtlsserver()
    {
        var (server, port) = await StartGtlsserverAsync();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await using var client = await Http3Client.ConnectAsync(new Http3ClientOptions { Host = "127.0.0.1", Port = port, Insecure = true, KeyUpdateInterval = 300 }, cts.Token);
            // A receive-mostly client sends only ACKs (never acknowledged), so upload: POST bodies make our client send
            // ack-eliciting 1-RTT packets, each phase acknowledged, and 3 PTO (with the peer's max_ack_delay) waited out,
            // before the next update (RFC 9001 §6.5). Path MTU discovery raises our datagrams to 64 KiB on loopback (4 MB
            // is only ≈ 70–300 packets) and the wait is time, so upload until two updates happened, at most 16 times
            // (2 fixed uploads gave 1 update or 2).
            var body = new byte[4_000_000];
            var sink = new ZeroCheckStream();
            int uploads = 0;
            while (uploads < 16 && (uploads < 2 || KeyUpdates(client.Connection) < 2))
            {
                var response = await client.SendAsync("POST", "/1000", body, sink, cts.Token);
                Assert.Equal(200, response.StatusCode);
                uploads++;
            }
            Assert.Equal(uploads * 1000, sink.Count);
            Assert.True(sink.AllZero);
            int updates = KeyUpdates(client.Connection);
            Assert.True(updates >= 2, $"only {updates} key updates happened");
        }
        finally
        {
            Stop(server);
        }
    }

    [Theory]
    [MemberData(nameof(ServerVariants))]
    public async Task Our_client_downloads_from_gtlsserver(long size, string extra)
    {
        var (server, port) = await StartGtlsserverAsync(extra.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(size > 20_000_000 ? 180 : 90));
            await using var client = await Http3Client.ConnectAsync(new Http3ClientOptions
            {
                Host = "127.0.0.1", Port = port, Insecure = true,
                ClientCertificate = extra.Contains("--verify-client", StringComparison.Ordinal) ? SelfSignedCertificate.CreateTlsServer("client") : null,
            }, cts.Token);
            var sink = new ZeroCheckStream();
            var response = await client.GetAsync("/" + size, sink, cts.Token);
            Assert.Equal(200, response.StatusCode);
            Assert.Equal(size, sink.Count);
            Assert.True(sink.AllZero);
            if (extra.Contains("CHACHA20", StringComparison.Ordinal))
                Assert.Equal(System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, client.Connection.NegotiatedCipherSuite);
            if (extra.Contains("AES-256", StringComparison.Ordinal))
                Assert.Equal(System.Net.Security.TlsCipherSuite.TLS_AES_256_GCM_SHA384, client.Connection.NegotiatedCipherSuite);
        }
        finally
        {
            Stop(server);
        }
    }
}
