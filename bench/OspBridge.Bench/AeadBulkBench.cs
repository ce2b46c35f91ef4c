using System.Diagnostics;
using System.Globalization;
using OspBridge.Crypto.Aead;

namespace OspBridge.Bench;

/// <summary>
/// QUIC's bulk AEADs side by side, single thread, in place (as QUIC seals and opens 1-RTT packets):
/// <c>aead-bulk [packetBytes=16384] [megabytes=2000] [rounds=5]</c>. Rows: AES-128-GCM on libcrypto (what every QUIC
/// peer negotiates) and AEGIS-128L (what two OspBridge agents negotiate), seal and open; GB/s of payload and CPU
/// ns per packet, best and median over the rounds.
/// </summary>
internal static class AeadBulkBench
{
    public static int Run(string[] args)
    {
        int size = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 16384;
        int megabytes = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        if (size is < 16 or > 65536 || megabytes is < 1 or > 100_000 || rounds is < 1 or > 50)
        {
            Console.Error.WriteLine("aead-bulk [packetBytes 16..65536] [megabytes 1..100000] [rounds 1..50]");
            return 2;
        }
        long packets = ((long)megabytes << 20) / size;
        Console.WriteLine($"aead-bulk: {packets} packets × {size} B, {rounds} rounds, libcrypto AES-GCM {(AesGcmCipher.NativeInUse ? "yes" : "no (BCL)")}, AEGIS-128L {(Aegis128L.IsSupported ? "yes" : "no")}, load {File.ReadAllText("/proc/loadavg").Trim()}");
        var rng = new Random(1307);
        var key = new byte[16]; rng.NextBytes(key);
        var header = new byte[30]; rng.NextBytes(header);
        var buffer = new byte[size]; rng.NextBytes(buffer);
        var tag = new byte[16];
        var nonce12 = new byte[12];
        var nonce16 = new byte[16];
        using var gcm = new AesGcmCipher(key);
        using var aegis = Aegis128L.IsSupported ? new Aegis128L(key) : null;
        Row("AES-128-GCM seal", packets, size, rounds, i => { nonce12[11] = (byte)i; gcm.Encrypt(nonce12, buffer, buffer, tag, header); });
        Row("AES-128-GCM open", packets, size, rounds, i => { nonce12[11] = (byte)i; gcm.Encrypt(nonce12, buffer, buffer, tag, header); gcm.TryDecrypt(nonce12, buffer, tag, buffer, header); }, subtract: "AES-128-GCM seal");
        if (aegis is not null)
        {
            Row("AEGIS-128L seal", packets, size, rounds, i => { nonce16[15] = (byte)i; aegis.Encrypt(nonce16, buffer, buffer, tag, header); });
            Row("AEGIS-128L open", packets, size, rounds, i => { nonce16[15] = (byte)i; aegis.Encrypt(nonce16, buffer, buffer, tag, header); aegis.TryDecrypt(nonce16, buffer, tag, buffer, header); }, subtract: "AEGIS-128L seal");
        }
        return 0;
    }

    private static readonly Dictionary<string, double> Best = [];

    private static void Row(string name, long packets, int size, int rounds, Action<long> op, string? subtract = null)
    {
        for (long i = 0; i < Math.Min(packets, 2000); i++) op(i); // JIT and caches
        var ns = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var cpu0 = Environment.CpuUsage.UserTime + Environment.CpuUsage.PrivilegedTime;
            for (long i = 0; i < packets; i++) op(i);
            var cpu = Environment.CpuUsage.UserTime + Environment.CpuUsage.PrivilegedTime - cpu0;
            ns.Add(cpu.TotalNanoseconds / packets);
        }
        ns.Sort();
        double best = ns[0], median = ns[ns.Count / 2];
        if (subtract is not null && Best.TryGetValue(subtract, out var s)) { best -= s; median -= s; }
        Best[name] = ns[0];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {name,-18} best {best:0} ns/packet = {size / best:0.00} GB/s, median {median:0} ns = {size / median:0.00} GB/s"));
    }
}
