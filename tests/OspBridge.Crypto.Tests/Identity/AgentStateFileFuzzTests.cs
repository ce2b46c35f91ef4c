using System.Text;
using OspBridge.Crypto.Identity;

namespace OspBridge.Crypto.Tests.Identity;

/// <summary>Seeded mutation fuzzing of agent.json: a damaged file parses or is CorruptState — nothing else escapes.</summary>
public sealed class AgentStateFileFuzzTests
{
    private const string Alphabet = "{}[]\",:019.e-tnul";

    [Fact]
    public void MutatedStateFilesParseOrAreCorruptState()
    {
        var valid = Encoding.UTF8.GetBytes(AgentStateFile.Format(new AgentStateFile(new byte[16], 7, "abcDEF0123+/xyz9", "Front Door", "Model")
        {
            KeySha256 = new byte[32],
        }));
        var random = new Random(1206);
        int corrupt = 0;
        for (int i = 0; i < 3000; i++)
        {
            var bytes = valid.ToList();
            for (int e = 1 + random.Next(3); e > 0 && bytes.Count > 0; e--)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(3))
                {
                    case 0: bytes[at] = (byte)Alphabet[random.Next(Alphabet.Length)]; break;
                    case 1: bytes.RemoveAt(at); break;
                    default: bytes.RemoveRange(at, bytes.Count - at); break;
                }
            }
            try
            {
                AgentStateFile.Parse(Encoding.UTF8.GetString(bytes.ToArray()), "/state/agent.json");
            }
            catch (CryptoException ex) when (ex.Error == CryptoError.CorruptState)
            {
                corrupt++;
            }
        }
        Assert.True(corrupt > 1000, $"only {corrupt} of 3000 mutations were rejected");
    }
}
