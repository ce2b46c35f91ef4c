using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// BYE (RFC 3550 §6.6), PT 203, SC = number of sources leaving, then an optional reason.
/// <code>
///  |V=2|P|    SC   |   PT=BYE=203  |             length            |
///  |                           SSRC/CSRC                           |
///  |     length    |               reason for leaving            ... (opt)
/// </code>
/// </summary>
public readonly ref struct Goodbye
{
    private readonly ReadOnlySpan<byte> _packet;

    private Goodbye(ReadOnlySpan<byte> packet, int count, ReadOnlySpan<byte> reason)
    {
        _packet = packet;
        SourceCount = count;
        Reason = reason;
    }

    /// <summary>Number of sources.</summary>
    public int SourceCount { get; }

    /// <summary>The reason text (UTF-8), empty when absent.</summary>
    public ReadOnlySpan<byte> Reason { get; }

    /// <summary>Source <paramref name="index"/>.</summary>
    public uint Source(int index) => (uint)index < (uint)SourceCount
        ? BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(4 + 4 * index))
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Parses one BYE packet.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out Goodbye bye)
    {
        bye = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)RtcpPacketType.Goodbye)
            return false;
        var body = RtcpCompoundReader.WithoutPadding(h, packet[..h.Length]);
        int at = 4 + 4 * h.Count;
        if (body.Length < at)
            return false;
        ReadOnlySpan<byte> reason = default;
        if (body.Length > at)
        {
            int len = body[at];
            if (at + 1 + len > body.Length)
                return false;
            reason = body.Slice(at + 1, len);
        }
        bye = new Goodbye(body, h.Count, reason);
        return true;
    }

    /// <summary>Writes a BYE for up to 31 sources with an optional reason (at most 255 octets).</summary>
    public static bool TryWrite(Span<byte> destination, ReadOnlySpan<uint> sources, ReadOnlySpan<byte> reason, out int written)
    {
        written = 0;
        if (sources.Length > 31 || reason.Length > 255)
            return false;
        int body = 4 + 4 * sources.Length + (reason.IsEmpty ? 0 : 1 + reason.Length);
        int length = (body + 3) & ~3;
        if (destination.Length < length)
            return false;
        destination[..length].Clear();
        RtcpHeader.Write(destination, (byte)sources.Length, RtcpPacketType.Goodbye, length);
        for (int i = 0; i < sources.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4 + 4 * i), sources[i]);
        if (!reason.IsEmpty)
        {
            destination[4 + 4 * sources.Length] = (byte)reason.Length;
            reason.CopyTo(destination.Slice(5 + 4 * sources.Length));
        }
        written = length;
        return true;
    }
}
