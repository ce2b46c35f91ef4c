using OspBridge.Crypto.Dtls;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// Issue 9 item 4: inserting fragments costs work linear in the bytes received, whatever the pattern (the former
/// sorted range list was quadratic for many tiny disjoint fragments). Bounded by a count of bitmap words touched,
/// not by wall-clock time; the reassembled bytes are checked against the original.
/// </summary>
public class HandshakeReassemblerTests
{
    private const int Length = HandshakeReassembler.MaxMessageLength;

    private static byte[] Body(int seed)
    {
        var body = new byte[Length];
        new Random(seed).NextBytes(body);
        return body;
    }

    [Fact]
    public void ManyTinyInterleavedOverlappingFragments_LinearWork_CorrectMessage()
    {
        var r = new HandshakeReassembler();
        var body = Body(1);
        int fragments = 0;
        void Add(int off, int len)
        {
            len = Math.Min(len, Length - off);
            Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, Length, 0, off, len), body.AsSpan(off, len), 0));
            fragments++;
        }

        // 16 384 one-byte fragments at the even offsets, from the end backwards: the worst case for a sorted range
        // list (every insert a new disjoint range at the front).
        for (int off = Length - 2; off >= 0; off -= 2) Add(off, 1);
        Assert.False(r.TryTakeNext(out _, out _, out _, out _));
        // 3-byte fragments overlapping both neighbours, at the odd offsets up to Length - 5 (so byte Length - 1 stays missing).
        for (int off = 1; off < Length - 3; off += 2) Add(off, 3);
        Assert.False(r.TryTakeNext(out _, out _, out _, out _)); // the last byte is still missing
        // Duplicates of everything once more, then the last byte.
        for (int off = 0; off < Length - 1; off += 2) Add(off, 2);
        Add(Length - 1, 1);

        Assert.True(r.TryTakeNext(out var type, out var seq, out var got, out _));
        Assert.Equal((1, 0), (type, (int)seq));
        Assert.Equal(body, got);
        // A fragment of at most 3 bytes touches at most 2 bitmap words.
        Assert.True(r.WorkUnits <= 2L * fragments, $"{r.WorkUnits} words for {fragments} fragments");
        Assert.True(fragments > 40_000);
    }

    [Fact]
    public void RandomOverlappingFragments_EveryVariant_SeededProperty()
    {
        var rng = new Random(20261206);
        for (int round = 0; round < 20; round++)
        {
            int length = rng.Next(1, 5000);
            var body = new byte[length];
            rng.NextBytes(body);
            var r = new HandshakeReassembler();
            var covered = new bool[length];
            int coveredCount = 0, fragments = 0;
            long bytes = 0;
            while (coveredCount < length)
            {
                Assert.False(r.TryTakeNext(out _, out _, out _, out _));
                int off = rng.Next(length);
                int len = Math.Min(rng.Next(0, 300), length - off);
                Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(2, length, 0, off, len), body.AsSpan(off, len), 0));
                fragments++;
                bytes += len;
                for (int i = off; i < off + len; i++)
                    if (!covered[i]) { covered[i] = true; coveredCount++; }
            }
            Assert.True(r.TryTakeNext(out _, out _, out var got, out _), $"round {round}");
            Assert.Equal(body, got);
            Assert.True(r.WorkUnits <= fragments + (bytes / 64) + fragments, $"round {round}: {r.WorkUnits} words");
        }
    }

    [Fact]
    public void ZeroLengthMessage_IsCompleteAtOnce_AndEmptyFragmentsAddNothing()
    {
        var r = new HandshakeReassembler();
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(14, 0, 0, 0, 0), [], 0));
        Assert.True(r.TryTakeNext(out var type, out _, out var body, out _));
        Assert.Equal(14, type);
        Assert.Empty(body);
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 10, 1, 5, 0), [], 0));
        Assert.False(r.TryTakeNext(out _, out _, out _, out _));
        Assert.Equal(0, r.WorkUnits);
    }
}
