namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// Walks the chunks of one SCTP packet (after the common header). Every chunk is a TLV (RFC 9260 §3.2; layout in
/// <see cref="SctpTlv"/>):
/// <code>
///  | Chunk Type (8) | Chunk Flags (8) | Chunk Length (16, incl. this 4-byte header, excl. padding) |
///  | Chunk Value (Length - 4 bytes), zero-padded to a multiple of 4                               |
/// </code>
/// </summary>
internal ref struct SctpChunkReader(ReadOnlySpan<byte> chunks)
{
    private readonly ReadOnlySpan<byte> _chunks = chunks;
    private int _position;

    /// <summary>True if every chunk was consumed cleanly (no trailing garbage or truncated chunk).</summary>
    public readonly bool AtEnd => _position >= _chunks.Length;

    /// <summary>Reads the next chunk. False at the end or on a malformed chunk (length &lt; 4 or beyond the packet).</summary>
    public bool TryRead(out byte type, out byte flags, out ReadOnlySpan<byte> value)
    {
        bool ok = SctpTlv.TryReadNext(_chunks, ref _position, out var tlv);
        type = ok ? tlv[0] : (byte)0;
        flags = ok ? tlv[1] : (byte)0;
        value = ok ? tlv.Slice(SctpTlv.HeaderLength) : default;
        return ok;
    }

    /// <summary>Writes a chunk header and returns the padded total length of a chunk with <paramref name="valueLength"/> value bytes.</summary>
    public static int WriteHeader(Span<byte> destination, byte type, byte flags, int valueLength)
    {
        destination[0] = type;
        destination[1] = flags;
        return SctpTlv.WriteLength(destination, valueLength);
    }

    /// <summary>Rounds up to a multiple of 4.</summary>
    public static int Padded(int length) => SctpTlv.Padded(length);
}
