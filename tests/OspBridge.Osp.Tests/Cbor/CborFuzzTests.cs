using System.Diagnostics;

namespace OspBridge.Osp.Tests.Cbor;

public sealed class CborFuzzTests
{
    /// <summary>
    /// 200 000 mutated inputs through reader, scanner, generated decoders and demuxer: only CborException,
    /// bounded allocation per input, bounded time. Longer runs: <c>dotnet run -c Release --project bench/OspBridge.Bench -- fuzz-cbor 5000000</c>.
    /// </summary>
    [Fact]
    public void Mutated_inputs_only_ever_raise_CborException()
    {
        var fuzzer = new CborMutationFuzzer(seed: 8949);
        var stopwatch = Stopwatch.StartNew();
        fuzzer.Run(200_000);
        stopwatch.Stop();

        Assert.Equal(200_000, fuzzer.Inputs);
        Assert.True(fuzzer.MaxAllocationOverBudget <= 0);
        Assert.True(fuzzer.ReaderAccepted > 10_000, $"only {fuzzer.ReaderAccepted} inputs were valid CBOR: mutations too destructive");
        Assert.True(fuzzer.ReaderAccepted < 190_000, $"{fuzzer.ReaderAccepted} inputs were valid: mutations too weak");
        Assert.True(fuzzer.MessagesDecoded > 100, $"only {fuzzer.MessagesDecoded} messages decoded");
        // The seam is stricter than the library's lax reader (UTF-8, simple values below 32): some inputs show it.
        Assert.True(fuzzer.LibraryOnlyAccepted > 0, "the library never accepted anything the seam rejected");
        // Inputs are at most a few hundred bytes and every read consumes input, so any input takes microseconds;
        // the bound is generous because GC pauses and a shared CI machine show up in single measurements.
        Assert.True(fuzzer.MaxInputTime < TimeSpan.FromSeconds(10), $"slowest input took {fuzzer.MaxInputTime}");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromMinutes(3), $"fuzz run took {stopwatch.Elapsed}");
    }
}
