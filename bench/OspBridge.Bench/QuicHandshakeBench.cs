using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using OspBridge.Crypto.Certificates;
using OspBridge.Quic;

namespace OspBridge.Bench;

/// <summary>
/// QUIC + TLS 1.3 handshake latency on loopback, warm process:
/// <c>dotnet bench/OspBridge.Bench/bin/Release/net10.0/OspBridge.Bench.dll quic hs [iterations=200]</c>.
/// Rows, interleaved per iteration after a warm-up of 20:
/// ours→ours (in-process QuicListener, <c>QuicConnection.ConnectAsync</c> until the client's handshake completed);
/// ours→gtlsserver (the same client against ngtcp2's server process, ALPN h3);
/// gtlsclient→gtlsserver (ngtcp2's own client: from its first Initial to its "QUIC handshake has completed" log
/// line, read from its log's millisecond timestamps, plus the whole client process's wall time for scale).
/// </summary>
internal static class QuicHandshakeBench
{
    private static readonly Regex LogTime = new(@"^I(\d{8}) ", RegexOptions.Compiled);

    public static int Run(string[] args)
    {
        int n = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
        // `uni0`: connect to gtlsserver the way session 4 did (no unidirectional streams allowed) to show its refusal
        bool uni0 = args.Contains("uni0");
        Console.WriteLine($"quic handshake bench: {n} iterations, load {File.ReadAllText("/proc/loadavg").Trim()}");
        return RunAsync(n, uni0).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int n, bool uni0)
    {
        string dir = Directory.CreateTempSubdirectory("ospb-hsbench-").FullName;
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        string key = Path.Combine(dir, "key.pem"), certPath = Path.Combine(dir, "cert.pem");
        using (var ecdsa = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(cert)!)
        {
            File.WriteAllText(certPath, cert.ExportCertificatePem());
            File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
        }
        var alpn = new SslApplicationProtocol("ospb-bench");
        var h3 = new SslApplicationProtocol("h3");
        await using var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [alpn],
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = cert, ApplicationProtocols = [alpn] },
            }),
        });
        using var stop = new CancellationTokenSource();
        var acceptor = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                QuicConnection c;
                try { c = await listener.AcceptConnectionAsync(stop.Token); }
                catch (OperationCanceledException) { break; }
                _ = Task.Run(async () => { await Task.Yield(); await c.DisposeAsync(); });
            }
        });
        int port;
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)s.LocalEndPoint!).Port;
        }
        string p = port.ToString(CultureInfo.InvariantCulture);
        using var gserver = Process.Start(new ProcessStartInfo("/usr/sbin/gtlsserver", ["-q", "127.0.0.1", p, key, certPath])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var serverLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        gserver.OutputDataReceived += (_, e) => { if (e.Data is not null && serverLog.Count < 200) serverLog.Enqueue(e.Data); };
        gserver.ErrorDataReceived += (_, e) => { if (e.Data is not null && serverLog.Count < 200) serverLog.Enqueue(e.Data); };
        gserver.BeginOutputReadLine();
        gserver.BeginErrorReadLine();
        Thread.Sleep(300);
        var oursOurs = new List<double>();
        var oursNg = new List<double>();
        var ngLog = new List<double>();
        var ngProc = new List<double>();
        try
        {
            for (int i = 0; i < n + 20; i++)
            {
                double a = await Connect(listener.LocalEndPoint, alpn, cert, 0);
                double b;
                // gtlsserver is an HTTP/3 server: while deriving its 1-RTT keys (inside the TLS handshake) it opens its
                // control and QPACK streams and fails the handshake with CRYPTO_ERROR 0x150 (TLS internal_error) when the
                // client allows fewer than 3 unidirectional streams. Session 4's bench connected with the raw-QUIC default
                // of 0; `h3 get` allows them, hence "works with h3 get". So the h3 row allows 3, as any HTTP/3 client must.
                try { b = await Connect(new IPEndPoint(IPAddress.Loopback, port), h3, cert, uni0 ? 0 : 3); }
                catch (QuicException ex)
                {
                    if (i == 0)
                    {
                        Console.WriteLine($"  ours client -> gtlsserver failed: {ex.Message}; row skipped. gtlsserver said:");
                        foreach (var line in serverLog.Take(20)) Console.WriteLine("    " + line);
                    }
                    b = double.NaN;
                }
                var (c, d) = Gtlsclient(port);
                if (i < 20) continue;
                oursOurs.Add(a); if (!double.IsNaN(b)) oursNg.Add(b); ngLog.Add(c); ngProc.Add(d);
            }
        }
        finally
        {
            gserver.Kill();
            gserver.WaitForExit();
            await stop.CancelAsync();
            await acceptor;
            Directory.Delete(dir, recursive: true);
        }
        Print("ours client -> ours server (in-process)", oursOurs);
        Print("ours client -> gtlsserver", oursNg);
        Print("gtlsclient -> gtlsserver (log, 1 ms res.)", ngLog);
        Print("gtlsclient process wall (start..exit)", ngProc);
        return 0;
    }

    private static async Task<double> Connect(IPEndPoint remote, SslApplicationProtocol alpn, System.Security.Cryptography.X509Certificates.X509Certificate2 cert, int uniStreams)
    {
        var sw = Stopwatch.StartNew();
        await using var client = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = remote, DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0,
            MaxInboundUnidirectionalStreams = uniStreams,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [alpn], TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetRawCertData().AsSpan().SequenceEqual(cert.RawData) == true,
            },
        });
        return sw.Elapsed.TotalMilliseconds;
    }

    private static (double HandshakeMs, double ProcessMs) Gtlsclient(int port)
    {
        string p = port.ToString(CultureInfo.InvariantCulture);
        var sw = Stopwatch.StartNew();
        using var client = Process.Start(new ProcessStartInfo("/usr/bin/gtlsclient", ["--exit-on-all-streams-close", "127.0.0.1", p, $"https://127.0.0.1:{p}/"])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var err = client.StandardError.ReadToEndAsync();
        var output = client.StandardOutput.ReadToEndAsync();
        if (!client.WaitForExit(TimeSpan.FromSeconds(10))) { client.Kill(); throw new TimeoutException("gtlsclient"); }
        client.WaitForExit();
        double wall = sw.Elapsed.TotalMilliseconds;
        long first = -1, last = -1;
        foreach (var line in (err.Result + "\n" + output.Result).Split('\n'))
        {
            var m = LogTime.Match(line);
            if (m.Success)
            {
                last = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                if (first < 0) first = last;
            }
            else if (line.StartsWith("QUIC handshake has completed", StringComparison.Ordinal))
            {
                return (last - first, wall);
            }
        }
        throw new InvalidOperationException("gtlsclient: no 'handshake has completed' line");
    }

    private static void Print(string name, List<double> xs)
    {
        if (xs.Count == 0) { Console.WriteLine($"RESULT {name,-44} no samples"); return; }
        xs.Sort();
        double P(double q) => xs[Math.Min(xs.Count - 1, (int)Math.Ceiling(q * xs.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT {name,-44} p50 {P(0.5),7:F2} ms  p99 {P(0.99),7:F2} ms  (n={xs.Count})"));
    }
}
