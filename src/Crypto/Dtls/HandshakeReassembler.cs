namespace OspBridge.Crypto.Dtls;

/// <summary>
/// Reassembles DTLS handshake fragments (RFC 6347 §4.2.3) into whole messages and releases them strictly in
/// message_seq order. Fragments may arrive out of order, overlap or repeat. Limits are checked before anything is
/// buffered: at most <see cref="Window"/> message sequence numbers ahead and <see cref="MaxMessageLength"/> bytes per
/// message. Epoch-0 fragments are unauthenticated, so fragments that disagree on (type, length, epoch) for one
/// message_seq are kept as separate candidates (at most <see cref="MaxVariants"/>): a spoofed first fragment with
/// another length cannot block the real message; the first candidate to complete is released and the others dropped.
/// </summary>
internal sealed class HandshakeReassembler
{
    public const int Window = 8;
    public const int MaxMessageLength = 32 * 1024;
    /// <summary>Candidates kept per message_seq; when full, the one with the fewest received bytes makes room.</summary>
    public const int MaxVariants = 4;

    private readonly List<Partial>?[] _slots = new List<Partial>?[Window];

    /// <summary>The next message_seq to be released.</summary>
    public int NextSeq { get; private set; }

    /// <summary>Drops every buffered fragment and restarts at <paramref name="seq"/>.</summary>
    public void Reset(int seq)
    {
        Array.Clear(_slots);
        NextSeq = seq;
    }

    /// <summary>Outcome of <see cref="Add"/>.</summary>
    public enum AddResult { Buffered, Old, Dropped }

    /// <summary>Adds one fragment (header already validated against the fragment length).</summary>
    public AddResult Add(in DtlsHandshakeHeader h, ReadOnlySpan<byte> fragment, ushort epoch)
    {
        if (h.MessageSeq < NextSeq) return AddResult.Old;
        int ahead = h.MessageSeq - NextSeq;
        if (ahead >= Window || h.Length > MaxMessageLength) return AddResult.Dropped;
        int slot = h.MessageSeq % Window;
        var list = _slots[slot];
        if (list is null || list.Count == 0 || list[0].Seq != h.MessageSeq) _slots[slot] = list = [];
        Partial? p = null;
        foreach (var c in list)
            if (c.Type == h.MessageType && c.Body.Length == h.Length && c.Epoch == epoch) { p = c; break; }
        if (p is null)
        {
            if (list.Count >= MaxVariants)
            {
                int victim = 0;
                for (int i = 1; i < list.Count; i++)
                    if (list[i].Received < list[victim].Received) victim = i;
                list.RemoveAt(victim);
            }
            p = new Partial(h.MessageSeq, h.MessageType, h.Length, epoch);
            list.Add(p);
        }
        WorkUnits += p.Insert(h.FragmentOffset, fragment);
        return AddResult.Buffered;
    }

    /// <summary>Releases the next message if one of its candidates is complete.</summary>
    public bool TryTakeNext(out byte type, out ushort seq, out byte[] body, out ushort epoch)
    {
        var list = _slots[NextSeq % Window];
        Partial? p = null;
        if (list is not null)
            foreach (var c in list)
                if (c.Seq == NextSeq && c.Complete) { p = c; break; }
        if (p is null)
        {
            type = 0; seq = 0; body = []; epoch = 0;
            return false;
        }
        _slots[NextSeq % Window] = null;
        type = p.Type;
        seq = (ushort)p.Seq;
        body = p.Body;
        epoch = p.Epoch;
        NextSeq++;
        return true;
    }

    /// <summary>
    /// Bitmap words touched by every insert so far (tests: proves the work is linear in the bytes received, however
    /// the fragments overlap or interleave).
    /// </summary>
    internal long WorkUnits { get; private set; }

    /// <summary>Candidates buffered across all slots (tests: the flood bound).</summary>
    internal int BufferedCandidates => _slots.Sum(l => l?.Count ?? 0);

    /// <summary>Body bytes held by buffered candidates (tests: what a flood of bogus variants can make us keep).</summary>
    internal long BufferedBytes => _slots.Sum(l => l?.Sum(p => (long)p.Body.Length) ?? 0);

    private sealed class Partial(int seq, byte type, int length, ushort epoch)
    {
        public readonly int Seq = seq;
        public readonly byte Type = type;
        public readonly ushort Epoch = epoch;
        public readonly byte[] Body = new byte[length];
        // One bit per body byte: received or not. An insert costs O(1 + fragment length / 64) whatever the fragment
        // pattern (the former sorted range list cost O(ranges) per insert: quadratic for many tiny disjoint
        // fragments). At most MaxMessageLength / 8 = 4 KiB next to a body of up to 32 KiB.
        private readonly ulong[] _received = new ulong[(length + 63) / 64];

        public bool Complete => Received == Body.Length;

        /// <summary>Distinct bytes received so far.</summary>
        public int Received { get; private set; }

        /// <summary>Copies the fragment into place and marks its bytes; returns the bitmap words touched.</summary>
        public int Insert(int offset, ReadOnlySpan<byte> data)
        {
            if (data.Length == 0) return 0;
            data.CopyTo(Body.AsSpan(offset));
            int first = offset, last = offset + data.Length - 1; // inclusive; the header check keeps last < Body.Length
            int w0 = first >> 6, w1 = last >> 6;
            for (int w = w0; w <= w1; w++)
            {
                ulong mask = ulong.MaxValue;
                if (w == w0) mask &= ulong.MaxValue << (first & 63);
                if (w == w1) mask &= ulong.MaxValue >> (63 - (last & 63));
                Received += System.Numerics.BitOperations.PopCount(mask & ~_received[w]);
                _received[w] |= mask;
            }
            return w1 - w0 + 1;
        }
    }
}
