using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// Walks the chunks of one SCTP packet (after the common header). Every chunk is a TLV (RFC 9260 §3.2):
/// <code>
///  | Chunk Type (8) | Chunk Flags (8) | Chunk Length (16, incl. this 4-byte header, excl. padding) |
///  | Chunk Value (Length - 4 bytes), zero-padded to a multiple of 4                               |
/// </code>
/// </summary>
internal ref struct SctpChunkReader
{
    private readonly ReadOnlySpan<byte> _chunks;
    private int _position;

    public SctpChunkReader(ReadOnlySpan<byte> chunks)
    {
        _chunks = chunks;
        _position = 0;
    }

    /// <summary>True if every chunk was consumed cleanly (no trailing garbage or truncated chunk).</summary>
    public readonly bool AtEnd => _position >= _chunks.Length;

    /// <summary>Reads the next chunk. False at the end or on a malformed chunk (length &lt; 4 or beyond the packet).</summary>
    public bool TryRead(out byte type, out byte flags, out ReadOnlySpan<byte> value)
    {
        type = 0;
        flags = 0;
        value = default;
        var rest = _chunks.Slice(Math.Min(_position, _chunks.Length));
        if (rest.Length < 4)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest.Slice(2));
        if (length < 4 || length > rest.Length)
        {
            return false;
        }
        type = rest[0];
        flags = rest[1];
        value = rest.Slice(4, length - 4);
        _position += (length + 3) & ~3;
        return true;
    }

    /// <summary>Writes a chunk header and returns the padded total length of a chunk with <paramref name="valueLength"/> value bytes.</summary>
    public static int WriteHeader(Span<byte> destination, byte type, byte flags, int valueLength)
    {
        destination[0] = type;
        destination[1] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), checked((ushort)(valueLength + 4)));
        int padded = Padded(valueLength + 4);
        destination.Slice(valueLength + 4, padded - valueLength - 4).Clear();
        return padded;
    }

    /// <summary>Rounds up to a multiple of 4.</summary>
    public static int Padded(int length) => (length + 3) & ~3;
}
