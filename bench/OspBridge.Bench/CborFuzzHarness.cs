using System.Diagnostics;
using System.Globalization;
using OspBridge.Osp.Tests.Cbor;

namespace OspBridge.Bench;

/// <summary>
/// Long CBOR/OSP mutation fuzz run (the CI test runs 200 000 inputs):
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- fuzz-cbor 5000000 [seed]</c>.
/// The fuzzer itself lives in tests/OspBridge.Osp.Tests/Cbor/CborMutationFuzzer.cs (compiled in here too).
/// </summary>
internal static class CborFuzzHarness
{
    public static int Run(string[] args)
    {
        long count = args.Length > 0 ? long.Parse(args[0], CultureInfo.InvariantCulture) : 5_000_000;
        int seed = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Environment.TickCount;
        Console.WriteLine($"fuzz-cbor: {count} inputs, seed {seed}");
        var fuzzer = new CborMutationFuzzer(seed);
        var stopwatch = Stopwatch.StartNew();
        const long Batch = 100_000;
        try
        {
            for (long done = 0; done < count; done += Batch)
            {
                fuzzer.Run(Math.Min(Batch, count - done));
                Console.WriteLine($"  {fuzzer.Inputs,10} inputs  {fuzzer.ReaderAccepted,9} valid  {fuzzer.MessagesDecoded,8} messages  {fuzzer.LibraryOnlyAccepted,8} library-only  " +
                    $"slowest {fuzzer.MaxInputTime.TotalMilliseconds:F2} ms  {fuzzer.Inputs / stopwatch.Elapsed.TotalSeconds:F0}/s");
            }
        }
        catch (FuzzFailureException e)
        {
            Console.WriteLine($"FAILURE after {fuzzer.Inputs} inputs (seed {seed}): {e.Message}");
            return 1;
        }

        Console.WriteLine($"ok: {fuzzer.Inputs} inputs in {stopwatch.Elapsed}, allocation headroom {-fuzzer.MaxAllocationOverBudget} bytes");
        return 0;
    }
}
