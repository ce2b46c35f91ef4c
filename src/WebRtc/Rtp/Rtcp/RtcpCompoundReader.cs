namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// Iterates the packets of a compound RTCP packet (RFC 3550 §6.1). Each packet is returned whole (header
/// included, padding not removed — only the last packet of a compound may pad). Stops with
/// <see cref="IsMalformed"/> set at a packet that is not version 2 or runs past the buffer; at most
/// <see cref="MaxPackets"/> packets are returned.
/// </summary>
public ref struct RtcpCompoundReader
{
    /// <summary>Cap on packets per compound (a 1500-octet datagram holds at most 375 four-octet packets).</summary>
    public const int MaxPackets = 512;

    private readonly ReadOnlySpan<byte> _buffer;
    private int _at;
    private int _count;

    /// <summary>Reads <paramref name="compound"/>.</summary>
    public RtcpCompoundReader(ReadOnlySpan<byte> compound)
    {
        _buffer = compound;
        _at = 0;
        _count = 0;
        IsMalformed = false;
    }

    /// <summary>True when iteration stopped at a malformed packet.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next packet; false at the end (or at a malformed packet).</summary>
    public bool TryRead(out RtcpHeader header, out ReadOnlySpan<byte> packet)
    {
        packet = default;
        header = default;
        if (_at >= _buffer.Length)
            return false;
        if (_count >= MaxPackets || !RtcpHeader.TryRead(_buffer.Slice(_at), out header))
        {
            IsMalformed = true;
            _at = _buffer.Length;
            return false;
        }
        packet = _buffer.Slice(_at, header.Length);
        _at += header.Length;
        _count++;
        return true;
    }

    /// <summary>Payload of a packet without trailing padding; empty when the padding count is impossible.</summary>
    public static ReadOnlySpan<byte> WithoutPadding(RtcpHeader header, ReadOnlySpan<byte> packet)
    {
        if (!header.Padding)
            return packet;
        int pad = packet[^1];
        return pad == 0 || pad > packet.Length - RtcpHeader.Size ? default : packet[..^pad];
    }
}
