using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Bench;

/// <summary>
/// Which runtime settings for the <c>ospbridge</c> CLI (issue 14):
/// <c>quic cli-runtime [bytes=200000000] [rounds=2] [r2rDir] [jitDir]</c>. For each variant — JIT build output with
/// default tiering, <c>TieredPGO=0</c>, <c>TieredCompilation=0</c>, <c>TC_QuickJitForLoops=0</c>; and, when
/// <c>r2rDir</c> holds a ReadyToRun publish (<c>dotnet publish src/Bridge -c Release -r linux-x64 --self-contained false
/// -p:PublishReadyToRun=true -o DIR</c>), the same with R2R code — it measures, interleaved per round so every variant
/// sees the same machine: start-up (<c>ospbridge h3 get</c> of 1 byte from gtlsserver: wall and CPU), our client
/// (<c>h3 get</c> ← gtlsserver, <c>bytes</c>: Mbit/s and client CPU s/GB) and our server (gtlsclient ← <c>h3 serve</c>:
/// Mbit/s and server CPU s/GB). The peer is ngtcp2 in both throughput rows, so only our side varies.
/// </summary>
internal static class QuicCliRuntimeBench
{
    private sealed record Variant(string Name, string Dir, (string Key, string Value)[] Env);

    public static int Run(string[] args)
    {
        long size = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 200_000_000;
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
        string? r2r = args.Length > 2 && args[2] != "-" ? args[2] : null;
        string jit = args.Length > 3 ? args[3] : AppContext.BaseDirectory;
        var variants = new List<Variant>
        {
            new("jit default", jit, []),
            new("jit TieredPGO=0", jit, [("DOTNET_TieredPGO", "0")]),
            new("jit TieredCompilation=0", jit, [("DOTNET_TieredCompilation", "0")]),
            new("jit TC_QuickJitForLoops=0", jit, [("DOTNET_TC_QuickJitForLoops", "0")]),
        };
        if (r2r is not null)
        {
            variants.Add(new("r2r default", r2r, []));
            variants.Add(new("r2r TieredPGO=0", r2r, [("DOTNET_TieredPGO", "0")]));
            variants.Add(new("r2r TieredCompilation=0", r2r, [("DOTNET_TieredCompilation", "0")]));
        }
        foreach (var v in variants)
            if (!File.Exists(Path.Combine(v.Dir, "ospbridge"))) { Console.Error.WriteLine($"missing {v.Dir}/ospbridge"); return 2; }
        Console.WriteLine($"quic cli-runtime bench: {size} bytes, {rounds} round(s), load {File.ReadAllText("/proc/loadavg").Trim()}");
        string dir = Directory.CreateTempSubdirectory("ospb-rtbench-").FullName;
        var startWall = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var startCpu = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var client = variants.ToDictionary(v => v.Name, _ => new List<(double Mbps, double Cpu)>());
        var server = variants.ToDictionary(v => v.Name, _ => new List<(double Mbps, double Cpu)>());
        int failures = 0;
        try
        {
            string key = Path.Combine(dir, "key.pem"), certPath = Path.Combine(dir, "cert.pem");
            using (var cert = SelfSignedCertificate.CreateTlsServer("localhost"))
            using (var ecdsa = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(cert)!)
            {
                File.WriteAllText(certPath, cert.ExportCertificatePem());
                File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
            }
            for (int round = 0; round < rounds; round++)
            {
                foreach (var v in variants)
                {
                    for (int k = 0; k < 3; k++)
                    {
                        var s = Transfer(v, ours: "client", 1, key, certPath, dir);
                        startWall[v.Name].Add(s.WallMs);
                        startCpu[v.Name].Add(s.ClientCpu);
                    }
                    var c = Transfer(v, ours: "client", size, key, certPath, dir);
                    client[v.Name].Add((size * 8 / c.WallMs / 1e3, c.ClientCpu / (size / 1e9)));
                    var sv = Transfer(v, ours: "server", size, key, certPath, dir);
                    server[v.Name].Add((size * 8 / sv.WallMs / 1e3, sv.ServerCpu / (size / 1e9)));
                    failures += (double.IsNaN(c.WallMs) ? 1 : 0) + (double.IsNaN(sv.WallMs) ? 1 : 0);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  round {round + 1} {v.Name,-28} start {startWall[v.Name][^1],6:F0} ms {startCpu[v.Name][^1]:F2} s CPU | client {client[v.Name][^1].Mbps,5:F0} Mbit/s {client[v.Name][^1].Cpu:F2} s/GB | server {server[v.Name][^1].Mbps,5:F0} Mbit/s {server[v.Name][^1].Cpu:F2} s/GB"));
                }
            }
            Console.WriteLine($"load after: {File.ReadAllText("/proc/loadavg").Trim()}; failed transfers: {failures} (NaN rows, medians over the rest)");
            foreach (var v in variants)
            {
                static double Median(IEnumerable<double> xs) { var a = xs.Where(x => !double.IsNaN(x)).Order().ToArray(); return a.Length == 0 ? double.NaN : a[a.Length / 2]; }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"RESULT {v.Name,-28} start-up median {Median(startWall[v.Name]),6:F0} ms, CPU {Median(startCpu[v.Name]):F2} s | h3 get <- gtlsserver {Median(client[v.Name].Select(x => x.Mbps)),5:F0} Mbit/s, client {Median(client[v.Name].Select(x => x.Cpu)):F2} CPU s/GB | gtlsclient <- h3 serve {Median(server[v.Name].Select(x => x.Mbps)),5:F0} Mbit/s, server {Median(server[v.Name].Select(x => x.Cpu)):F2} CPU s/GB"));
            }
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (double WallMs, double ClientCpu, double ServerCpu) Transfer(Variant v, string ours, long size, string key, string cert, string dir)
    {
        string ospbridge = Path.Combine(v.Dir, "ospbridge");
        int port = FreePort();
        string p = port.ToString(CultureInfo.InvariantCulture);
        bool oursServer = ours == "server";
        var serverPsi = oursServer
            ? new ProcessStartInfo(ospbridge, ["h3", "serve", "--address", "127.0.0.1", "--port", p, "--cert", cert, "--key", key])
            : new ProcessStartInfo("/usr/sbin/gtlsserver", ["-q", $"--max-dyn-length={size + 1}", "127.0.0.1", p, key, cert]);
        serverPsi.RedirectStandardOutput = true;
        serverPsi.RedirectStandardError = true;
        serverPsi.UseShellExecute = false;
        if (oursServer) foreach (var (k, val) in v.Env) serverPsi.Environment[k] = val;
        using var server = Process.Start(serverPsi)!;
        _ = server.StandardError.ReadToEndAsync();
        try
        {
            if (oursServer)
            {
                var line = server.StandardOutput.ReadLineAsync();
                if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is null) throw new InvalidOperationException("h3 serve did not start");
            }
            else
            {
                Thread.Sleep(300);
            }
            _ = server.StandardOutput.ReadToEndAsync();
            string url = $"https://127.0.0.1:{p}/{size}";
            string timeFile = Path.Combine(dir, "time.txt");
            string[] clientArgs = !oursServer
                ? ["-f", "%U %S", "-o", timeFile, ospbridge, "h3", "get", "-k", "-o", "/dev/null", url]
                : ["-f", "%U %S", "-o", timeFile, "/usr/bin/gtlsclient", "-q", "--exit-on-all-streams-close", "127.0.0.1", p, url];
            var psi = new ProcessStartInfo("/usr/bin/time", clientArgs) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            if (!oursServer) foreach (var (k, val) in v.Env) psi.Environment[k] = val;
            double serverCpu0 = ProcessCpuSeconds(server.Id);
            var sw = Stopwatch.StartNew();
            using var client = Process.Start(psi)!;
            _ = client.StandardOutput.ReadToEndAsync();
            var err = client.StandardError.ReadToEndAsync();
            if (!client.WaitForExit(TimeSpan.FromMinutes(5))) { client.Kill(entireProcessTree: true); throw new TimeoutException($"{v.Name}: client did not finish"); }
            double wall = sw.Elapsed.TotalMilliseconds;
            double serverCpu = ProcessCpuSeconds(server.Id) - serverCpu0;
            if (client.ExitCode != 0)
            {
                // reported, not fatal: one failed transfer must not hide the other variants' figures
                Console.WriteLine($"  FAILED {v.Name} ({ours} ours, {size} bytes): client exit {client.ExitCode}: {err.Result.Trim()}");
                return (double.NaN, double.NaN, double.NaN);
            }
            var t = File.ReadAllText(timeFile).Trim().Split(' ');
            double clientCpu = double.Parse(t[0], CultureInfo.InvariantCulture) + double.Parse(t[1], CultureInfo.InvariantCulture);
            return (wall, clientCpu, serverCpu);
        }
        finally
        {
            try { server.Kill(); } catch (InvalidOperationException) { }
            server.WaitForExit();
        }
    }

    private static double ProcessCpuSeconds(int pid)
    {
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
