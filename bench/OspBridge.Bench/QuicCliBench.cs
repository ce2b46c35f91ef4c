using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Bench;

/// <summary>
/// HTTP/3 download through real processes on loopback, all four server/client pairings in one run:
/// <c>dotnet bench/OspBridge.Bench/bin/Release/net10.0/OspBridge.Bench.dll quic cli [bytes=500000000] [runs=1] [ospbridge] [pairs]</c>.
/// Pairs: gtlsserver→gtlsclient, ospbridge h3 serve→ospbridge h3 get, ospbridge→gtlsclient, gtlsserver→ospbridge;
/// <c>pairs</c> keeps only those whose name contains it (e.g. <c>gtlsserver</c>: our client and gtlsclient, both from gtlsserver).
/// Time is the client process's wall time (start → exit, handshake and process start-up included). CPU: the client's
/// user+system seconds for its whole life (via /usr/bin/time), the server's user+system seconds from just before
/// the client starts to just after it exits (/proc/PID/stat), both normalised to seconds per GB (10^9 bytes).
/// </summary>
internal static class QuicCliBench
{
    private sealed record Pair(string Name, bool OursServer, bool OursClient);

    private static readonly Pair[] Pairs =
    [
        new("gtlsclient <- gtlsserver", false, false),
        new("h3 get <- h3 serve", true, true),
        new("gtlsclient <- h3 serve", true, false),
        new("h3 get <- gtlsserver", false, true),
    ];

    public static int Run(string[] args)
    {
        long size = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 500_000_000;
        int runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
        string ospbridge = args.Length > 2 && args[2].Length > 0 ? args[2] : Path.Combine(AppContext.BaseDirectory, "ospbridge");
        var pairs = args.Length > 3 ? Pairs.Where(p => p.Name.Contains(args[3], StringComparison.Ordinal)).ToArray() : Pairs;
        if (pairs.Length == 0) { Console.Error.WriteLine($"no pair matches {args[3]}"); return 2; }
        if (!File.Exists(ospbridge)) { Console.Error.WriteLine($"missing {ospbridge}"); return 2; }
        Console.WriteLine($"quic cli bench: {size} bytes, {runs} run(s), {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}, {ospbridge}");
        string dir = Directory.CreateTempSubdirectory("ospb-clibench-").FullName;
        try
        {
            string key = Path.Combine(dir, "key.pem"), certPath = Path.Combine(dir, "cert.pem");
            using (var cert = SelfSignedCertificate.CreateTlsServer("localhost"))
            using (var ecdsa = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(cert)!)
            {
                File.WriteAllText(certPath, cert.ExportCertificatePem());
                File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
            }
            var results = pairs.ToDictionary(p => p.Name, _ => new List<(double Mbps, double ClientCpu, double ServerCpu)>());
            for (int i = 0; i < runs; i++)
            {
                foreach (var pair in pairs)
                {
                    var r = One(pair, size, ospbridge, key, certPath, dir);
                    results[pair.Name].Add(r);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  run {i + 1} {pair.Name,-26} {r.Mbps,6:F0} Mbit/s  CPU s/GB client {r.ClientCpu:F2} server {r.ServerCpu:F2}"));
                }
            }
            double baseline = results[pairs[0].Name].Select(r => r.Mbps).Average();
            foreach (var pair in pairs)
            {
                var rs = results[pair.Name];
                double m = rs.Select(r => r.Mbps).Average();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"RESULT {pair.Name,-26} mean {m,6:F0} Mbit/s ratio {m / baseline:F2}  CPU s/GB client {rs.Select(r => r.ClientCpu).Average():F2} server {rs.Select(r => r.ServerCpu).Average():F2}"));
            }
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (double Mbps, double ClientCpu, double ServerCpu) One(Pair pair, long size, string ospbridge, string key, string cert, string dir)
    {
        int port = FreePort();
        string p = port.ToString(CultureInfo.InvariantCulture);
        var serverPsi = pair.OursServer
            ? new ProcessStartInfo(ospbridge, ["h3", "serve", "--address", "127.0.0.1", "--port", p, "--cert", cert, "--key", key])
            : new ProcessStartInfo("/usr/sbin/gtlsserver", ["-q", $"--max-dyn-length={size + 1}", "127.0.0.1", p, key, cert]);
        serverPsi.RedirectStandardOutput = true;
        serverPsi.RedirectStandardError = true;
        serverPsi.UseShellExecute = false;
        using var server = Process.Start(serverPsi)!;
        _ = server.StandardError.ReadToEndAsync();
        try
        {
            if (pair.OursServer)
            {
                // Wait for "listening on".
                var line = server.StandardOutput.ReadLineAsync();
                if (!line.Wait(TimeSpan.FromSeconds(30)) || line.Result is null) throw new InvalidOperationException("h3 serve did not start");
            }
            else
            {
                Thread.Sleep(300);
            }
            _ = server.StandardOutput.ReadToEndAsync();
            string url = $"https://127.0.0.1:{p}/{size}";
            string timeFile = Path.Combine(dir, "time.txt");
            string[] clientArgs = pair.OursClient
                ? ["-f", "%U %S", "-o", timeFile, ospbridge, "h3", "get", "-k", "-o", "/dev/null", url]
                : ["-f", "%U %S", "-o", timeFile, "/usr/bin/gtlsclient", "-q", "--exit-on-all-streams-close", "127.0.0.1", p, url];
            double serverCpu0 = ProcessCpuSeconds(server.Id);
            var sw = Stopwatch.StartNew();
            using var client = Process.Start(new ProcessStartInfo("/usr/bin/time", clientArgs)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            _ = client.StandardOutput.ReadToEndAsync();
            var err = client.StandardError.ReadToEndAsync();
            if (!client.WaitForExit(TimeSpan.FromMinutes(5))) { client.Kill(entireProcessTree: true); throw new TimeoutException($"{pair.Name}: client did not finish"); }
            var elapsed = sw.Elapsed;
            double serverCpu = ProcessCpuSeconds(server.Id) - serverCpu0;
            if (client.ExitCode != 0) throw new InvalidOperationException($"{pair.Name}: client exit {client.ExitCode}: {err.Result}");
            var t = File.ReadAllText(timeFile).Trim().Split(' ');
            double clientCpu = double.Parse(t[0], CultureInfo.InvariantCulture) + double.Parse(t[1], CultureInfo.InvariantCulture);
            double gb = size / 1e9;
            return (size * 8 / elapsed.TotalSeconds / 1e6, clientCpu / gb, serverCpu / gb);
        }
        finally
        {
            try { server.Kill(); } catch (InvalidOperationException) { }
            server.WaitForExit();
        }
    }

    private static double ProcessCpuSeconds(int pid)
    {
        // /proc/PID/stat: fields 14 (utime) and 15 (stime) in clock ticks, after the ")" closing the command name.
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
