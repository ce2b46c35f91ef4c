using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using OspBridge.Crypto.Tls;
using OspBridge.Quic;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Bench;

/// <summary>
/// Single-connection loopback download, ours↔ours and gtlsclient↔gtlsserver (ngtcp2 0.12.1) in the same run:
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- quic [bytes=1000000000] [runs=1]</c>.
/// Ours: an in-process QuicListener sends the bytes on one bidirectional stream (raw QUIC, ALPN "ospb-bench");
/// ngtcp2: gtlsserver serves a generated HTTP/3 body of the same size to gtlsclient. Prints Mbit/s and the ratio.
/// </summary>
internal static class QuicBench
{
    private static QuicAllocationListener? _allocations;

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "cli") return QuicCliBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "hs") return QuicHandshakeBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "cli-runtime") return QuicCliRuntimeBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "aead") return QuicAeadBench.Run(args[1..]);
        long size = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000_000;
        int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
        System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
        Console.WriteLine($"quic bench: {size} bytes, {runs} run(s), {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
        using var allocations = args.Contains("alloc") ? new QuicAllocationListener() : null;
        _allocations = allocations;
        var ours = new List<double>();
        var theirs = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var (o, perDatagram) = Ours(size).GetAwaiter().GetResult();
            if (allocations is not null)
            {
                Console.WriteLine("  allocation samples by type (GCAllocationTick, ~100 KB each), stream open → last byte:");
                foreach (var (type, bytes) in allocations.Top(15)) Console.WriteLine($"    {bytes / 1e6,8:F1} MB  {type}");
            }
            double t = args.Contains("nongtcp2") ? double.NaN : Ngtcp2(size);
            Console.WriteLine($"  run {i + 1}: ours {o:F0} Mbit/s, ngtcp2 {t:F0} Mbit/s, ratio {o / t:F2}; ours allocated {perDatagram:F0} B per datagram");
            ours.Add(o); theirs.Add(t);
        }
        double om = ours.Average(), tm = theirs.Average();
        Console.WriteLine($"RESULT ours↔ours {om:F0} Mbit/s, gtlsclient↔gtlsserver {tm:F0} Mbit/s, ratio {om / tm:F2}");
        return 0;
    }

    /// <summary>
    /// One transfer; returns Mbit/s and the bytes allocated per datagram (process-wide, both ends, from stream open to
    /// the last byte: the loops run on pool threads, so a per-thread counter would miss them).
    /// </summary>
    private static async Task<(double Mbps, double BytesPerDatagram)> Ours(long size)
    {
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        var alpn = new SslApplicationProtocol("ospb-bench");
        var windows = new QuicReceiveWindowSizes { Connection = 32 << 20, LocallyInitiatedBidirectionalStream = 16 << 20, RemotelyInitiatedBidirectionalStream = 16 << 20 };
        await using var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [alpn],
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0, InitialReceiveWindowSizes = windows,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = cert, ApplicationProtocols = [alpn] },
            }),
        });
        QuicConnection? serverConn = null;
        var server = Task.Run(async () =>
        {
            await using var conn = await listener.AcceptConnectionAsync();
            serverConn = conn;
            await using var s = await conn.AcceptInboundStreamAsync();
            var chunk = new byte[1 << 17];
            long left = size;
            while (left > 0)
            {
                int n = (int)Math.Min(left, chunk.Length);
                await s.WriteAsync(chunk.AsMemory(0, n), completeWrites: n == left);
                left -= n;
            }
            await s.WritesClosed;
        });
        await using var client = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = listener.LocalEndPoint, DefaultCloseErrorCode = 0, DefaultStreamErrorCode = 0, InitialReceiveWindowSizes = windows,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions { ApplicationProtocols = [alpn], TargetHost = "localhost", RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetRawCertData().AsSpan().SequenceEqual(cert.RawData) == true },
        });
        long datagrams0 = client.Core.DatagramsSent;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        _allocations?.Enable();
        long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
        var sw = Stopwatch.StartNew();
        var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional);
        await stream.WriteAsync(new byte[] { 1 }, completeWrites: true);
        var buf = new byte[1 << 17];
        long total = 0;
        int r;
        long steadyAlloc0 = 0, steadyDatagrams0 = 0;
        bool steady = false;
        while ((r = await stream.ReadAsync(buf)) > 0)
        {
            total += r;
            if (!steady && total >= size / 3)
            {
                // Steady state: buffers and windows have grown, tiering has settled; count from here on.
                steady = true;
                steadyAlloc0 = GC.GetTotalAllocatedBytes(precise: false);
                steadyDatagrams0 = client.Core.DatagramsSent + (serverConn?.Core.DatagramsSent ?? 0);
            }
        }
        long steadyAlloc = GC.GetTotalAllocatedBytes(precise: false) - steadyAlloc0;
        long steadyDatagrams = client.Core.DatagramsSent + (serverConn?.Core.DatagramsSent ?? 0) - steadyDatagrams0;
        var el = sw.Elapsed;
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - alloc0;
        _allocations?.Disable();
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        long datagrams = client.Core.DatagramsSent - datagrams0 + (serverConn?.Core.DatagramsSent ?? 0);
        await server;
        if (total != size) throw new InvalidOperationException($"received {total} of {size}");
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"  ours: {cpu / (size / 1e9):F2} CPU s/GB (both ends, one process); steady state (last 2/3): {steadyAlloc} B allocated over {steadyDatagrams} datagrams = {(double)steadyAlloc / Math.Max(1, steadyDatagrams):F1} B/datagram (process-wide, both ends, includes the stream API calls)"));
        return (total * 8 / el.TotalSeconds / 1e6, (double)allocated / Math.Max(1, datagrams));
    }

    private static double Ngtcp2(long size)
    {
        string dir = Directory.CreateTempSubdirectory("ospb-bench-").FullName;
        try
        {
            string key = Path.Combine(dir, "key.pem"), certPath = Path.Combine(dir, "cert.pem");
            using (var cert = SelfSignedCertificate.CreateTlsServer("localhost"))
            using (var ecdsa = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(cert)!)
            {
                File.WriteAllText(certPath, cert.ExportCertificatePem());
                File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
            }
            int port;
            using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)s.LocalEndPoint!).Port;
            }
            var server = Process.Start(new ProcessStartInfo("/usr/sbin/gtlsserver", ["-q", $"--max-dyn-length={size + 1}", "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), key, certPath])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            try
            {
                Thread.Sleep(300);
                var sw = Stopwatch.StartNew();
                using var client = Process.Start(new ProcessStartInfo("/usr/bin/gtlsclient", ["-q", "--exit-on-all-streams-close", "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), $"https://127.0.0.1:{port}/{size}"])
                { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
                client.StandardOutput.ReadToEndAsync();
                client.StandardError.ReadToEndAsync();
                if (!client.WaitForExit(TimeSpan.FromMinutes(5))) { client.Kill(); throw new TimeoutException("gtlsclient did not finish"); }
                var el = sw.Elapsed;
                if (client.ExitCode != 0) throw new InvalidOperationException($"gtlsclient exit {client.ExitCode}");
                return size * 8 / el.TotalSeconds / 1e6;
            }
            finally
            {
                server.Kill();
                server.WaitForExit();
                server.Dispose();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
