using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>
/// Every example of RFC 8949 Appendix A (Table 6), both ways: the encoding decodes to the diagnostic
/// value, and writing the value produces the encoding. Diagnostic strings are in this library's canonical
/// rendering (hand-checked against the RFC): bignums appear as their tag, chunked strings concatenated,
/// and a few floats in exponent form (0.00006103515625 is written 6.103515625e-5).
/// </summary>
public sealed class CborRfc8949VectorTests
{
    // (hex, diagnostic, the hex is what the writer produces from the value)
    public static TheoryData<string, string, bool> Vectors => new()
    {
        { "00", "0", true },
        { "01", "1", true },
        { "0a", "10", true },
        { "17", "23", true },
        { "1818", "24", true },
        { "1819", "25", true },
        { "1864", "100", true },
        { "1903e8", "1000", true },
        { "1a000f4240", "1000000", true },
        { "1b000000e8d4a51000", "1000000000000", true },
        { "1bffffffffffffffff", "18446744073709551615", true },
        { "c249010000000000000000", "2(h'010000000000000000')", true },
        { "3bffffffffffffffff", "-18446744073709551616", true },
        { "c349010000000000000000", "3(h'010000000000000000')", true },
        { "20", "-1", true },
        { "29", "-10", true },
        { "3863", "-100", true },
        { "3903e7", "-1000", true },
        { "f90000", "0.0", true },
        { "f98000", "-0.0", true },
        { "f93c00", "1.0", true },
        { "fb3ff199999999999a", "1.1", true },
        { "f93e00", "1.5", true },
        { "f97bff", "65504.0", true },
        { "fa47c35000", "100000.0", true },
        { "fa7f7fffff", "3.4028234663852886e+38", true },
        { "fb7e37e43c8800759c", "1.0e+300", true },
        { "f90001", "5.960464477539063e-8", true },
        { "f90400", "6.103515625e-5", true },
        { "f9c400", "-4.0", true },
        { "fbc010666666666666", "-4.1", true },
        { "f97c00", "Infinity", true },
        { "f97e00", "NaN", true },
        { "f9fc00", "-Infinity", true },
        { "fa7f800000", "Infinity", false },
        { "fa7fc00000", "NaN", false },
        { "faff800000", "-Infinity", false },
        { "fb7ff0000000000000", "Infinity", false },
        { "fb7ff8000000000000", "NaN", false },
        { "fbfff0000000000000", "-Infinity", false },
        { "f4", "false", true },
        { "f5", "true", true },
        { "f6", "null", true },
        { "f7", "undefined", true },
        { "f0", "simple(16)", true },
        { "f8ff", "simple(255)", true },
        { "c074323031332d30332d32315432303a30343a30305a", "0(\"2013-03-21T20:04:00Z\")", true },
        { "c11a514b67b0", "1(1363896240)", true },
        { "c1fb41d452d9ec200000", "1(1363896240.5)", true },
        { "d74401020304", "23(h'01020304')", true },
        { "d818456449455446", "24(h'6449455446')", true },
        { "d82076687474703a2f2f7777772e6578616d706c652e636f6d", "32(\"http://www.example.com\")", true },
        { "40", "h''", true },
        { "4401020304", "h'01020304'", true },
        { "60", "\"\"", true },
        { "6161", "\"a\"", true },
        { "6449455446", "\"IETF\"", true },
        { "62225c", "\"\\\"\\\\\"", true },
        { "62c3bc", "\"\u00fc\"", true },
        { "63e6b0b4", "\"\u6c34\"", true },
        { "64f0908591", "\"\ud800\udd51\"", true },
        { "80", "[]", true },
        { "83010203", "[1, 2, 3]", true },
        { "8301820203820405", "[1, [2, 3], [4, 5]]", true },
        { "98190102030405060708090a0b0c0d0e0f101112131415161718181819", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]", true },
        { "a0", "{}", true },
        { "a201020304", "{1: 2, 3: 4}", true },
        { "a26161016162820203", "{\"a\": 1, \"b\": [2, 3]}", true },
        { "826161a161626163", "[\"a\", {\"b\": \"c\"}]", true },
        { "a56161614161626142616361436164614461656145", "{\"a\": \"A\", \"b\": \"B\", \"c\": \"C\", \"d\": \"D\", \"e\": \"E\"}", true },
        { "5f42010243030405ff", "h'0102030405'", false },
        { "7f657374726561646d696e67ff", "\"streaming\"", false },
        { "9fff", "[_ ]", false },
        { "9f018202039f0405ffff", "[_ 1, [2, 3], [_ 4, 5]]", false },
        { "9f01820203820405ff", "[_ 1, [2, 3], [4, 5]]", false },
        { "83018202039f0405ff", "[1, [2, 3], [_ 4, 5]]", false },
        { "83019f0203ff820405", "[1, [_ 2, 3], [4, 5]]", false },
        { "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", "[_ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]", false },
        { "bf61610161629f0203ffff", "{_ \"a\": 1, \"b\": [_ 2, 3]}", false },
        { "826161bf61626163ff", "[\"a\", {_ \"b\": \"c\"}]", false },
        { "bf6346756ef563416d7421ff", "{_ \"Fun\": true, \"Amt\": -2}", false },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decodes_to_the_diagnostic_value(string hex, string diagnostic, bool _)
    {
        byte[] encoded = Convert.FromHexString(hex);
        Assert.Equal(diagnostic, CborDiagnostic.Format(encoded));

        // The whole input is one item: the seam validates it, and the library skips all of it.
        Assert.Equal(encoded.Length, CborInput.Validate(encoded));
        CborReader reader = CborInput.CreateReader(encoded);
        reader.SkipValue();
        Assert.Equal(0, reader.BytesRemaining);
        Assert.Equal(CborReaderState.Finished, reader.PeekState());

        // Independently of the seam, the library's own strict mode reads every Appendix A example as one item
        // (its Canonical/Ctap2Canonical modes reject the indefinite-length ones by design).
        var library = new CborReader(encoded, CborConformanceMode.Strict);
        library.SkipValue();
        Assert.Equal(0, library.BytesRemaining);
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Encodes_from_the_value(string hex, string diagnostic, bool preferred)
    {
        byte[] written = DiagnosticEncoder.Encode(diagnostic);
        if (preferred)
        {
            Assert.Equal(hex, Convert.ToHexStringLower(written));
        }
        else
        {
            // Non-preferred floats and indefinite lengths: the writer emits the preferred, definite form of the same value.
            Assert.Equal(diagnostic.Replace("_ ", "", StringComparison.Ordinal), CborDiagnostic.Format(written));
            Assert.True(written.Length <= hex.Length / 2);
        }
    }
}
