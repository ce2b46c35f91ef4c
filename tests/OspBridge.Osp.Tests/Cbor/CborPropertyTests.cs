using FsCheck;
using FsCheck.Fluent;
using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>Round-trip and differential properties over seeded random CBOR (reproducible: fixed seeds).</summary>
public sealed class CborPropertyTests
{
    private const int Seed = 20261121;

    [Fact]
    public void Reader_agrees_with_an_independent_encoder_including_lax_forms()
    {
        var random = new RandomCbor(Seed);
        for (int i = 0; i < 3000; i++)
        {
            (byte[] encoded, string diagnostic) = random.Next();
            Assert.Equal(diagnostic, CborDiagnostic.Format(encoded));
        }
    }

    [Fact]
    public void Writer_round_trips_random_values_through_the_reader()
    {
        var random = new RandomCbor(Seed + 1);
        for (int i = 0; i < 3000; i++)
        {
            (_, string diagnostic) = random.Next();
            string definite = diagnostic.Replace("[_ ", "[", StringComparison.Ordinal).Replace("{_ ", "{", StringComparison.Ordinal);
            byte[] written = DiagnosticEncoder.Encode(definite);
            Assert.Equal(definite, CborDiagnostic.Format(written));

            // What the writer produces is in shortest form: validation that requires it accepts it.
            Assert.Equal(written.Length, CborInput.Validate(written, new CborLimits { RequireShortestEncoding = true }));
        }
    }

    [Fact]
    public void Deterministic_encoding_is_idempotent_and_order_independent()
    {
        var random = new RandomCbor(Seed + 2, allowLaxForms: false);
        int maps = 0;
        for (int i = 0; i < 2000; i++)
        {
            (_, string diagnostic) = random.Next();
            byte[] deterministic;
            try
            {
                deterministic = DiagnosticEncoder.Encode(diagnostic, deterministic: true);
            }
            catch (CborException e) when (e.Error == CborError.DuplicateMapKey)
            {
                continue; // random maps may repeat a key; deterministic encoding forbids that
            }

            maps += diagnostic.Contains('{', StringComparison.Ordinal) ? 1 : 0;
            string sorted = CborDiagnostic.Format(deterministic);
            Assert.Equal(deterministic, DiagnosticEncoder.Encode(sorted, deterministic: true));
            Assert.Equal(deterministic, DiagnosticEncoder.Encode(sorted, deterministic: false));
        }

        Assert.True(maps > 200);
    }

    [Fact]
    public void Scanner_finds_the_same_item_end_as_the_library_reader_for_any_chunking()
    {
        var random = new RandomCbor(Seed + 3);
        var chunking = new Random(Seed);
        var scanner = new CborItemScanner();
        for (int i = 0; i < 2000; i++)
        {
            (byte[] encoded, _) = random.Next();
            byte[] withTrailer = [.. encoded, 0x00, 0x01];
            var library = new CborReader(withTrailer, CborConformanceMode.Lax, allowMultipleRootLevelValues: true);
            library.SkipValue();
            Assert.Equal(encoded.Length, withTrailer.Length - library.BytesRemaining);
            scanner.Reset();
            int end = -1;
            int available = 0;
            while (end < 0)
            {
                available = Math.Min(withTrailer.Length, available + chunking.Next(1, 8));
                end = scanner.Advance(withTrailer.AsSpan(0, available));
            }

            Assert.Equal(encoded.Length, end);
        }
    }

    [Fact]
    public void Integers_and_floats_round_trip_exactly_fscheck()
    {
        var rnd = new Rnd(Seed, 0x9E3779B97F4A7C15UL | 1);
        long[] longs = Gen.Sample(ArbMap.Default.ArbFor<long>().Generator, 100, rnd, 2000);
        double[] doubles = Gen.Sample(ArbMap.Default.ArbFor<double>().Generator, 100, rnd, 2000);
        CborWriter writer = CborOutput.CreateWriter();
        foreach (long value in longs.Concat([long.MinValue, long.MaxValue, 0, -1, 23, 24, -24, -25]))
        {
            writer.Reset();
            writer.WriteInt64(value);
            Assert.Equal(value, CborInput.Decode(writer.Encode(), r => r.ReadInt64()));
        }

        foreach (double value in doubles.Concat([double.Epsilon, -0.0, double.MaxValue, (double)Half.MaxValue, float.MinValue]))
        {
            writer.Reset();
            CborOutput.WritePreferredDouble(writer, value);
            byte[] shortest = writer.Encode();
            double read = CborInput.Decode(shortest, r => r.ReadDouble());
            if (double.IsNaN(value))
            {
                Assert.Equal(0x7FF8_0000_0000_0000L, BitConverter.DoubleToInt64Bits(read)); // canonical NaN f97e00
            }
            else
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(value), BitConverter.DoubleToInt64Bits(read));
            }
            writer.Reset();
            CborOutput.WriteFloat64(writer, value);
            Assert.Equal(9, writer.BytesWritten);
            Assert.True(shortest.Length <= 9);
        }
    }
}
