namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// The FCI of a feedback message made of fixed-size entries (RFC 4585 §6.1): a generic NACK's PID/BLP pairs
/// (4 octets, §6.2.1), a FIR's SSRC/sequence-number entries (8 octets, RFC 5104 §4.3.1). Reads the feedback header,
/// requires at least one entry, and gives entry <c>i</c> as its octets; trailing octets short of an entry are ignored.
/// </summary>
internal readonly ref struct RtcpFeedbackEntries
{
    private readonly ReadOnlySpan<byte> _fci;
    private readonly int _entrySize;

    private RtcpFeedbackEntries(RtcpFeedbackHeader header, ReadOnlySpan<byte> fci, int entrySize)
    {
        Header = header;
        _fci = fci;
        _entrySize = entrySize;
    }

    /// <summary>Sender and media SSRCs.</summary>
    public RtcpFeedbackHeader Header { get; }

    /// <summary>Number of whole entries (0 for a default value).</summary>
    public int Count => _entrySize == 0 ? 0 : _fci.Length / _entrySize;

    /// <summary>The octets of entry <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> this[int index] => (uint)index < (uint)Count
        ? _fci.Slice(index * _entrySize, _entrySize)
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Reads a feedback packet of <paramref name="type"/>/<paramref name="format"/> with at least one entry of <paramref name="entrySize"/> octets.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, RtcpPacketType type, byte format, int entrySize, out RtcpFeedbackEntries entries)
    {
        entries = default;
        if (!RtcpFeedbackHeader.TryRead(packet, type, format, out var header, out var fci) || fci.Length < entrySize)
            return false;
        entries = new RtcpFeedbackEntries(header, fci, entrySize);
        return true;
    }
}
