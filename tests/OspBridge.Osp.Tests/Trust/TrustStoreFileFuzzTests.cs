using System.Text;
using OspBridge.Osp.Trust;

namespace OspBridge.Osp.Tests.Trust;

/// <summary>Seeded mutation fuzzing of trust.json: a damaged file loads or is CorruptState — nothing else escapes.</summary>
public sealed class TrustStoreFileFuzzTests
{
    private static string ValidFile()
    {
        var peers = new List<OspTrustedPeer>
        {
            new()
            {
                Fingerprint = TrustStoreChild.Fp("a"), DisplayNames = ["Living Room TV", "TV"], Trusted = true, AuthFailures = 0,
                FirstSeen = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), LastSeen = new DateTimeOffset(2026, 1, 2, 0, 0, 0, TimeSpan.Zero),
                Marks = OspPeerMarks.Suspicious, Endpoints = ["192.0.2.1:4433"], Grants = [new OspAppGrant("https://a.example", new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero))],
            },
            new() { Fingerprint = TrustStoreChild.Fp("b"), AuthFailures = 4, Marks = OspPeerMarks.RepeatedAuthFailures },
        };
        return OspTrustStoreFile.Format(peers, 1);
    }

    private const string Alphabet = "{}[]\",:0-9.etnul\\";

    [Fact]
    public void ValidFileRoundTrips()
    {
        var text = ValidFile();
        var peers = OspTrustStoreFile.Parse(text, "trust.json");
        Assert.Equal(text, OspTrustStoreFile.Format(peers, 1));
    }

    [Fact]
    public void MutatedFilesLoadOrAreCorruptState()
    {
        var valid = Encoding.UTF8.GetBytes(ValidFile());
        var random = new Random(20261206);
        int corrupt = 0, loaded = 0;
        for (int i = 0; i < 4000; i++)
        {
            var bytes = valid.ToList();
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits && bytes.Count > 0; e++)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(4))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.RemoveAt(at); break;
                    case 2: bytes.Insert(at, (byte)Alphabet[random.Next(Alphabet.Length)]); break;
                    default: bytes.RemoveRange(at, bytes.Count - at); break; // truncation
                }
            }
            var text = Encoding.UTF8.GetString(bytes.ToArray());
            try
            {
                OspTrustStoreFile.Parse(text, "trust.json");
                loaded++;
            }
            catch (OspException ex) when (ex.Error == OspError.CorruptState)
            {
                corrupt++;
            }
        }
        Assert.True(corrupt > 1000, $"only {corrupt} of 4000 mutations were rejected");
        Assert.True(loaded > 0, "no mutation loaded (e.g. an edited name) — the fuzzer is not exercising the accept path");
    }
}
