using BenchmarkDotNet.Running;

namespace OspBridge.Bench;

/// <summary>Benchmark entry point: <c>dotnet run -c Release --project bench/OspBridge.Bench -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the BenchmarkDotNet switcher, or a named real-peer harness (see docs/benchmarks.md).</summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quic") return QuicBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "webrtc") return WebRtcBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "udp") return UdpBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "relay") return RelayBench.RunAsync(args[1..]).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "soak") return SoakBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "pairing") return PairingBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "peerfetch") return PeerFetchBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "peerfetch-small") return PeerFetchBench.RunSmall(args[1..]);
        if (args.Length > 0 && args[0] == "media-fanout") return MediaFanoutBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "bridge") return BridgeLoadBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "bridge-idle") return BridgeIdleBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "bridge-whep") return WhepViewersBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "alloc") return AllocBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "aead-bulk") return AeadBulkBench.Run(args[1..]);
        if (args.Length > 0 && args[0] == "sctp-alloc") return SctpThroughputBenchmark.MeasureAllocations(args[1..]);
        if (args.Length > 0 && args[0] == "fuzz-cbor")
        {
            return CborFuzzHarness.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "osp-codec")
        {
            return OspCodecHarness.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
