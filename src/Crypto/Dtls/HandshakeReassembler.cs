namespace OspBridge.Crypto.Dtls;

/// <summary>
/// Reassembles DTLS handshake fragments (RFC 6347 §4.2.3) into whole messages and releases them strictly in
/// message_seq order. Fragments may arrive out of order, overlap or repeat. Limits are checked before anything is
/// buffered: at most <see cref="Window"/> message sequence numbers ahead and <see cref="MaxMessageLength"/> bytes per
/// message; conflicting fragments (type, length or epoch differ from the first one seen) are dropped.
/// </summary>
internal sealed class HandshakeReassembler
{
    public const int Window = 8;
    public const int MaxMessageLength = 32 * 1024;

    private readonly Partial?[] _slots = new Partial?[Window];

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
        var p = _slots[slot];
        if (p is null || p.Seq != h.MessageSeq)
        {
            p = new Partial(h.MessageSeq, h.MessageType, h.Length, epoch);
            _slots[slot] = p;
        }
        else if (p.Type != h.MessageType || p.Body.Length != h.Length || p.Epoch != epoch)
        {
            return AddResult.Dropped;
        }
        p.Insert(h.FragmentOffset, fragment);
        return AddResult.Buffered;
    }

    /// <summary>Releases the next message if it is complete.</summary>
    public bool TryTakeNext(out byte type, out ushort seq, out byte[] body, out ushort epoch)
    {
        var p = _slots[NextSeq % Window];
        if (p is null || p.Seq != NextSeq || !p.Complete)
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

    /// <summary>The message type of a buffered (possibly partial) message at <paramref name="seq"/>, or -1.</summary>
    public int PeekType(int seq)
    {
        var p = _slots[seq % Window];
        return p is not null && p.Seq == seq ? p.Type : -1;
    }

    private sealed class Partial(int seq, byte type, int length, ushort epoch)
    {
        public readonly int Seq = seq;
        public readonly byte Type = type;
        public readonly ushort Epoch = epoch;
        public readonly byte[] Body = new byte[length];
        // Received byte ranges [start, end), sorted and disjoint; bounded because adjacent/overlapping ones merge.
        private readonly List<(int Start, int End)> _ranges = [];

        public bool Complete => Body.Length == 0 || (_ranges.Count == 1 && _ranges[0].Start == 0 && _ranges[0].End == Body.Length);

        public void Insert(int offset, ReadOnlySpan<byte> data)
        {
            if (data.Length == 0) return;
            data.CopyTo(Body.AsSpan(offset));
            int start = offset, end = offset + data.Length;
            int i = 0;
            while (i < _ranges.Count && _ranges[i].End < start) i++;
            int j = i;
            while (j < _ranges.Count && _ranges[j].Start <= end)
            {
                start = Math.Min(start, _ranges[j].Start);
                end = Math.Max(end, _ranges[j].End);
                j++;
            }
            _ranges.RemoveRange(i, j - i);
            _ranges.Insert(i, (start, end));
        }
    }
}
