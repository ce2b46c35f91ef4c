using System.Diagnostics;
using System.Globalization;
using OspBridge.Crypto.Aead;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Srtp;

namespace OspBridge.Bench;

/// <summary>
/// Cost of the one AES-GCM (<see cref="AesGcmCipher"/>) per packet where SRTP and DTLS use it:
/// <c>quic aead [packets=200000] [payloadBytes=1100] [rounds=5]</c>. Which implementation runs is chosen the way the
/// product chooses it: libcrypto unless <c>OSPBRIDGE_AEAD=bcl</c> (run the harness once with and once without for an
/// A/B). Per round and operation it times <c>packets</c> iterations of: SRTP <c>AEAD_AES_128_GCM</c> protect (RTP header +
/// payload), protect + unprotect (unprotect = the difference), DTLS AES_128_GCM record seal, seal + open. Reported:
/// process CPU ns per packet (<see cref="Environment.CpuUsage"/>, steadier than wall time on a loaded machine; the
/// loop is single-threaded), the minimum and median over the rounds, and bytes allocated per packet on this thread.
/// </summary>
internal static class QuicAeadBench
{
    public static int Run(string[] args)
    {
        int packets = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
        int payload = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1100;
        int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        if (packets is < 1000 or > 100_000_000 || payload is < 0 or > 1400 || rounds is < 1 or > 100)
        {
            Console.Error.WriteLine("quic aead [packets 1000..1e8] [payloadBytes 0..1400] [rounds 1..100]");
            return 2;
        }
        Console.WriteLine($"quic aead: {packets} packets × {payload} payload bytes, {rounds} rounds, AES-GCM on {(AesGcmCipher.NativeInUse ? "libcrypto" : "BCL")}, load {File.ReadAllText("/proc/loadavg").Trim()}");

        var rng = new Random(14);
        var masterKey = new byte[16]; rng.NextBytes(masterKey);
        var masterSalt = new byte[12]; rng.NextBytes(masterSalt);
        var body = new byte[payload]; rng.NextBytes(body);
        var dtlsKey = new byte[16]; rng.NextBytes(dtlsKey);
        var dtlsSalt = new byte[4]; rng.NextBytes(dtlsSalt);
        var buffer = new byte[12 + payload + 64];
        var record = new byte[payload + DtlsAeadCipher.Overhead];
        var opened = new byte[payload];

        // Each operation gets fresh contexts per round (SRTP's replay window needs rising sequence numbers).
        ushort seqA = 0, seqB = 0;
        ulong dtlsSeq = 0;
        var ops = new (string Name, Func<Action> Make)[]
        {
            ("srtp protect", () =>
            {
                var tx = new SrtpContext(SrtpProtectionProfile.AeadAes128Gcm, masterKey, masterSalt);
                return () => { Rtp(buffer, ++seqA, body); Check(tx.TryProtectRtp(buffer, 12 + payload, out _)); };
            }),
            ("srtp protect+unprotect", () =>
            {
                var tx = new SrtpContext(SrtpProtectionProfile.AeadAes128Gcm, masterKey, masterSalt);
                var rx = new SrtpContext(SrtpProtectionProfile.AeadAes128Gcm, masterKey, masterSalt);
                return () =>
                {
                    Rtp(buffer, ++seqB, body);
                    Check(tx.TryProtectRtp(buffer, 12 + payload, out int w));
                    Check(rx.TryUnprotectRtp(buffer.AsSpan(0, w), out _));
                };
            }),
            ("dtls seal", () =>
            {
                var c = new DtlsAeadCipher(dtlsKey, dtlsSalt);
                return () => c.Seal(++dtlsSeq, 23, 0xfefd, body, record);
            }),
            ("dtls seal+open", () =>
            {
                var tx = new DtlsAeadCipher(dtlsKey, dtlsSalt);
                var rx = new DtlsAeadCipher(dtlsKey, dtlsSalt);
                return () =>
                {
                    ulong s = ++dtlsSeq;
                    tx.Seal(s, 23, 0xfefd, body, record);
                    Check(rx.TryOpen(s, 23, 0xfefd, record, opened, out _));
                };
            }),
        };

        var results = new Dictionary<string, List<(double CpuNs, double WallNs, double Alloc)>>();
        for (int r = 0; r < rounds + 1; r++) // round 0 warms up (JIT tiers) and is not reported
        {
            foreach (var (name, make) in ops)
            {
                var op = make();
                for (int i = 0; i < 1000; i++) op();
                long alloc0 = GC.GetAllocatedBytesForCurrentThread();
                var cpu0 = Environment.CpuUsage.TotalTime;
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < packets; i++) op();
                double wall = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / packets;
                double cpu = (Environment.CpuUsage.TotalTime - cpu0).TotalNanoseconds / packets;
                double alloc = (GC.GetAllocatedBytesForCurrentThread() - alloc0) / (double)packets;
                if (r == 0) continue;
                if (!results.TryGetValue(name, out var list)) results[name] = list = [];
                list.Add((cpu, wall, alloc));
            }
        }
        foreach (var (name, list) in results)
        {
            var cpu = list.Select(x => x.CpuNs).Order().ToArray();
            var wall = list.Select(x => x.WallNs).Order().ToArray();
            Console.WriteLine($"  {name,-24} CPU ns/packet min {cpu[0],7:F0} median {cpu[cpu.Length / 2],7:F0}; wall ns min {wall[0],7:F0}; allocated {list.Max(x => x.Alloc):F2} B/packet");
        }
        Console.WriteLine($"  load at end {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    private static void Rtp(byte[] buffer, ushort seq, byte[] body)
    {
        buffer[0] = 0x80;
        buffer[1] = 96;
        buffer[2] = (byte)(seq >> 8);
        buffer[3] = (byte)seq;
        buffer[4] = 0; buffer[5] = 0; buffer[6] = (byte)(seq >> 8); buffer[7] = (byte)seq; // timestamp
        buffer[8] = 0x11; buffer[9] = 0x22; buffer[10] = 0x33; buffer[11] = 0x44; // SSRC
        body.CopyTo(buffer, 12);
    }

    private static void Check(bool ok)
    {
        if (!ok) throw new InvalidOperationException("protect/unprotect failed in the bench");
    }
}
