using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// The one type-length-value layout SCTP uses for chunks (RFC 9260 §3.2) and for parameters and error causes
/// (§3.2.1, §3.3.10): a 4-byte header whose bytes 2..3 are the length (header included, padding excluded), then the
/// value, zero-padded to a multiple of 4. <see cref="Chunks.SctpChunkReader"/> and
/// <see cref="Parameters.SctpParameterReader"/> differ only in how they read the first two header bytes.
/// </summary>
internal static class SctpTlv
{
    /// <summary>Header bytes before the value.</summary>
    public const int HeaderLength = 4;

    /// <summary>
    /// Reads the TLV at <paramref name="position"/> (header and value, without padding) and moves past its padding.
    /// False at the end or when malformed (length below 4 or beyond the data); then nothing moves.
    /// </summary>
    public static bool TryReadNext(ReadOnlySpan<byte> data, scoped ref int position, out ReadOnlySpan<byte> tlv)
    {
        tlv = default;
        var rest = data.Slice(Math.Min(position, data.Length));
        if (rest.Length < HeaderLength)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest.Slice(2));
        if (length < HeaderLength || length > rest.Length)
        {
            return false;
        }
        tlv = rest.Slice(0, length);
        position += Padded(length);
        return true;
    }

    /// <summary>
    /// Writes the length field of a TLV whose caller-written type bytes and <paramref name="valueLength"/> value bytes are in
    /// place, clears the padding, and returns the padded total length.
    /// </summary>
    public static int WriteLength(Span<byte> destination, int valueLength)
    {
        int length = HeaderLength + valueLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), checked((ushort)length));
        int padded = Padded(length);
        destination.Slice(length, padded - length).Clear();
        return padded;
    }

    /// <summary>Rounds up to a multiple of 4.</summary>
    public static int Padded(int length) => (length + 3) & ~3;
}
