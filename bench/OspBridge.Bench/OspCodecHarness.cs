using System.Diagnostics;
using System.Globalization;
using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;

namespace OspBridge.Bench;

/// <summary>
/// Throughput of the generated OSP codecs and the demuxer:
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- osp-codec [iterations]</c>.
/// </summary>
internal static class OspCodecHarness
{
    public static int Run(string[] args)
    {
        int iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
        var info = new AgentInfoResponse
        {
            RequestId = 42,
            AgentInfo = new AgentInfo
            {
                DisplayName = "Living room display",
                ModelName = "OspBridge",
                Capabilities = [AgentCapability.ReceiveData, AgentCapability.DataChannels, AgentCapability.LanSignaling],
                StateToken = "a1B2c3D4",
                Locales = ["en-US", "de-CH"],
            },
        };
        var frame = new DataFrame { EncodingId = (ulong)DataChannelEncodingId.ArrayBuffer, Payload = new byte[1200] };

        Measure("encode agent-info-response", iterations, () =>
        {
            var writer = new System.Formats.Cbor.CborWriter(System.Formats.Cbor.CborConformanceMode.Lax);
            info.Encode(writer);
            return writer.BytesWritten;
        });
        Measure("encode agent-info-response to byte[] (cached writer)", iterations, () => info.Encode().Length);
        byte[] infoBody = info.Encode();
        Measure("decode agent-info-response", iterations, () => AgentInfoResponse.Decode(infoBody).RequestId > 0 ? infoBody.Length : 0);
        byte[] frameBody = frame.Encode();
        Measure("decode data-frame (1200 B)", iterations, () => DataFrame.Decode(frameBody).Payload.Length);

        // Demuxer: a stream of framed data-frames fed in 1350-byte chunks (one QUIC packet's worth).
        byte[] one = OspFraming.Frame(frame);
        byte[] stream = Enumerable.Range(0, 1000).SelectMany(_ => one).ToArray();
        var demuxer = new MessageDemuxer();
        long delivered = 0;
        demuxer.RegisterRaw(OspTypeKeys.DataFrame, (_, body) => delivered += body.Length);
        int rounds = Math.Max(1, iterations / 1000);
        var stopwatch = Stopwatch.StartNew();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int r = 0; r < rounds; r++)
        {
            using MessageStream s = demuxer.CreateStream();
            for (int pos = 0; pos < stream.Length; pos += 1350)
            {
                if (!s.Push(stream.AsMemory(pos, Math.Min(1350, stream.Length - pos))).IsOk)
                {
                    Console.WriteLine("demux failed");
                    return 1;
                }
            }
        }

        stopwatch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        double megabytes = (double)stream.Length * rounds / (1024 * 1024);
        Console.WriteLine($"demux raw data-frames (1350-byte chunks): {megabytes / stopwatch.Elapsed.TotalSeconds:F0} MiB/s, " +
            $"{1000.0 * rounds / stopwatch.Elapsed.TotalSeconds:F0} msg/s, {(double)allocated / (1000.0 * rounds):F1} B allocated/msg");
        return delivered > 0 ? 0 : 1;
    }

    private static void Measure(string name, int iterations, Func<int> action)
    {
        for (int i = 0; i < 1000; i++)
        {
            action();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var stopwatch = Stopwatch.StartNew();
        long sink = 0;
        for (int i = 0; i < iterations; i++)
        {
            sink += action();
        }

        stopwatch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"{name}: {iterations / stopwatch.Elapsed.TotalSeconds:F0} ops/s, {(double)allocated / iterations:F0} B allocated/op (checksum {sink % 997})");
    }
}
