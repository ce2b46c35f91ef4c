using OspBridge.Bridge.Server;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>The WHIP/WHEP trickle fragment parser (RFC 8840 <c>application/trickle-ice-sdpfrag</c>): what clients send, limits, and mutation fuzz.</summary>
public sealed class WhepSdpFragmentTests
{
    /// <summary>The fragment whip-whep 1.2.0 (medooze) builds: ufrag/pwd, one m= per mid, candidates, end-of-candidates.</summary>
    internal const string Medooze =
        "a=ice-ufrag:EsAw\r\n" +
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n" +
        "m=video 9 UDP/TLS/RTP/SAVPF 0\r\n" +
        "a=mid:0\r\n" +
        "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n" +
        "a=candidate:3471623853 1 udp 2122194687 2b1e6b3e-6b2c-4d5e-9f3a-0c1d2e3f4a5b.local 51000 typ host generation 0\r\n" +
        "a=end-of-candidates\r\n";

    [Fact]
    public void ParsesWhatWhipWhepSends()
    {
        Assert.True(WhepSdpFragment.TryParse(Medooze, out var f, out string? error), error);
        Assert.Equal("EsAw", f!.IceUfrag);
        Assert.Equal("P2uYro0UCOQ4zxjKXaWCBui1", f.IcePwd);
        Assert.Equal(3, f.Candidates.Count);
        Assert.StartsWith("candidate:1387637174 1 udp", f.Candidates[0].Candidate, StringComparison.Ordinal);
        Assert.Equal("0", f.Candidates[0].Mid);
        Assert.Equal(0, f.Candidates[0].MLineIndex);
        Assert.EndsWith(".local 51000 typ host generation 0", f.Candidates[1].Candidate, StringComparison.Ordinal);
        Assert.Null(f.Candidates[2].Candidate); // end-of-candidates
    }

    [Fact]
    public void TwoSectionsKeepTheirMidsAndIndexes()
    {
        string text = "m=audio 9 UDP/TLS/RTP/SAVPF 0\na=mid:a\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\nm=video 9 UDP/TLS/RTP/SAVPF 0\na=mid:v\na=candidate:2 1 udp 1 10.0.0.2 5002 typ host\n";
        Assert.True(WhepSdpFragment.TryParse(text, out var f, out string? error), error);
        Assert.Null(f!.IceUfrag);
        Assert.Equal([("a", 0), ("v", 1)], f.Candidates.Select(c => (c.Mid!, c.MLineIndex)).ToArray());
    }

    [Theory]
    [InlineData("v=0\r\n")] // a full SDP is not a fragment
    [InlineData("a=candidate:1 1 udp 1 10.0.0.1 notaport typ host\r\n")]
    [InlineData("a=candidate:1 1 udp\r\n")]
    [InlineData("a=candidate:1 1 udp 1 10.0.0.1 5000 type host\r\n")]
    [InlineData("a=ice-ufrag:a b\r\n")]
    [InlineData("a=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\n")]
    [InlineData("a=ice-pwd:short\r\n")]
    [InlineData("a=mid:0\r\n")] // mid before m=
    [InlineData("a=setup:active\r\n")]
    [InlineData("garbage\r\n")]
    [InlineData("a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\0\r\n")]
    public void RejectsWhatIsNotATrickleFragment(string text)
    {
        Assert.False(WhepSdpFragment.TryParse(text, out var f, out string? error));
        Assert.Null(f);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void LimitsAreCheckedBeforeKeeping()
    {
        var many = new StringBuilder("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n");
        for (int i = 0; i <= WhepSdpFragment.MaxCandidates; i++) many.Append("a=candidate:").Append(i).Append(" 1 udp 1 10.0.0.1 5000 typ host\r\n");
        Assert.False(WhepSdpFragment.TryParse(many.ToString(), out _, out string? error));
        Assert.Contains("candidates", error, StringComparison.Ordinal);
        Assert.False(WhepSdpFragment.TryParse(new string('a', WhepSdpFragment.MaxLength + 1), out _, out _));
        Assert.False(WhepSdpFragment.TryParse("a=candidate:" + new string('1', WhepSdpFragment.MaxLineLength) + "\r\n", out _, out _));
        Assert.False(WhepSdpFragment.TryParse(null, out _, out _));
        Assert.True(WhepSdpFragment.TryParse("", out var empty, out _)); // nothing to trickle is not an error
        Assert.Empty(empty!.Candidates);
    }

    [Fact]
    public void MutatedFragmentsNeverThrowAndStayBounded()
    {
        var rng = new Random(13_0613);
        byte[] seed = Encoding.UTF8.GetBytes(Medooze);
        int accepted = 0;
        for (int round = 0; round < 20_000; round++)
        {
            var bytes = (byte[])seed.Clone();
            int edits = 1 + rng.Next(8);
            for (int e = 0; e < edits; e++)
            {
                switch (rng.Next(4))
                {
                    case 0: bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256); break;
                    case 1: bytes[rng.Next(bytes.Length)] = (byte)" \r\n:=a0"[rng.Next(7)]; break;
                    case 2:
                        int cut = rng.Next(bytes.Length);
                        bytes = [.. bytes.AsSpan(0, cut), .. bytes.AsSpan(Math.Min(bytes.Length, cut + rng.Next(1, 40)))];
                        break;
                    default:
                        int at = rng.Next(bytes.Length);
                        int len = rng.Next(1, Math.Min(80, bytes.Length - at) + 1);
                        bytes = [.. bytes.AsSpan(0, at + len), .. bytes.AsSpan(at, len), .. bytes.AsSpan(at + len)];
                        break;
                }
                if (bytes.Length == 0) bytes = [(byte)'a'];
            }
            string text = Encoding.UTF8.GetString(bytes);
            if (WhepSdpFragment.TryParse(text, out var f, out string? error))
            {
                accepted++;
                Assert.Null(error);
                Assert.InRange(f!.Candidates.Count, 0, WhepSdpFragment.MaxCandidates);
                Assert.All(f.Candidates, c => Assert.True(c.Candidate is null || (c.Candidate.StartsWith("candidate:", StringComparison.Ordinal) && !c.Candidate.Contains('\n', StringComparison.Ordinal))));
            }
            else
            {
                Assert.Null(f);
                Assert.False(string.IsNullOrEmpty(error));
            }
        }
        Assert.InRange(accepted, 1, 19_999); // the fuzz reached both outcomes
    }
}
