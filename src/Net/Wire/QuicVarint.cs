using System.Buffers.Binary;

namespace OspBridge.Net.Wire;

/// <summary>
/// QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the length
/// (00 = 1, 01 = 2, 10 = 4, 11 = 8 bytes); the remaining 6, 14, 30 or 62 bits hold the value, big-endian.
/// Used by QUIC frames and by OSP message framing (type key prefix). Readers are transactional: on false
/// nothing was consumed.
/// </summary>
public static class QuicVarint
{
    /// <summary>The largest encodable value, 2^62 − 1.</summary>
    public const ulong MaxValue = (1UL << 62) - 1;

    /// <summary>The largest encoded length in bytes.</summary>
    public const int MaxLength = 8;

    /// <summary>The shortest encoded length of <paramref name="value"/> (1, 2, 4 or 8).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds <see cref="MaxValue"/>.</exception>
    public static int GetEncodedLength(ulong value) => value switch
    {
        <= 63 => 1,
        <= 16383 => 2,
        <= 1073741823 => 4,
        <= MaxValue => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(value), "QUIC varints hold at most 2^62-1."),
    };

    /// <summary>The encoded length announced by a first byte (1, 2, 4 or 8).</summary>
    public static int GetEncodedLength(byte firstByte) => 1 << (firstByte >> 6);

    /// <summary>Writes the shortest encoding of <paramref name="value"/>; false (nothing written) if it does not fit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds <see cref="MaxValue"/>.</exception>
    public static bool TryWrite(Span<byte> destination, ulong value, out int bytesWritten)
    {
        int length = GetEncodedLength(value);
        if (destination.Length < length)
        {
            bytesWritten = 0;
            return false;
        }

        switch (length)
        {
            case 1:
                destination[0] = (byte)value;
                break;
            case 2:
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(value | 0x4000));
                break;
            case 4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value | 0x8000_0000u);
                break;
            default:
                BinaryPrimitives.WriteUInt64BigEndian(destination, value | 0xC000_0000_0000_0000UL);
                break;
        }

        bytesWritten = length;
        return true;
    }

    /// <summary>Writes the shortest encoding of <paramref name="value"/> and returns its length.</summary>
    /// <exception cref="ArgumentException">The destination is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds <see cref="MaxValue"/>.</exception>
    public static int Write(Span<byte> destination, ulong value) =>
        TryWrite(destination, value, out int written)
            ? written
            : throw new ArgumentException("Destination too small for the varint.", nameof(destination));

    /// <summary>
    /// Reads one varint. Returns false when <paramref name="source"/> holds fewer bytes than the first byte
    /// announces (value and length are then 0). Non-shortest encodings are accepted, as RFC 9000 §16 allows.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        if (source.IsEmpty)
        {
            value = 0;
            bytesRead = 0;
            return false;
        }

        int length = GetEncodedLength(source[0]);
        if (source.Length < length)
        {
            value = 0;
            bytesRead = 0;
            return false;
        }

        value = length switch
        {
            1 => source[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(source) & 0x3FFFu,
            4 => BinaryPrimitives.ReadUInt32BigEndian(source) & 0x3FFF_FFFFu,
            _ => BinaryPrimitives.ReadUInt64BigEndian(source) & MaxValue,
        };
        bytesRead = length;
        return true;
    }
}
