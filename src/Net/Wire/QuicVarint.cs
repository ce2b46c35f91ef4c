using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace OspBridge.Net.Wire;

/// <summary>
/// QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the length
/// (00 = 1, 01 = 2, 10 = 4, 11 = 8 bytes); the remaining 6, 14, 30 or 62 bits hold the value, big-endian.
/// The one varint of the code base: QUIC packets, frames and transport parameters, HTTP/3 frames and OSP message
/// framing (type key prefix) all use it. Readers are transactional: on false nothing was consumed.
/// </summary>
public static class QuicVarint
{
    /// <summary>The largest encodable value, 2^62 − 1.</summary>
    public const ulong MaxValue = (1UL << 62) - 1;

    /// <summary>The largest encoded length in bytes.</summary>
    public const int MaxLength = 8;

    /// <summary>The shortest encoded length of <paramref name="value"/> (1, 2, 4 or 8).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value exceeds <see cref="MaxValue"/>.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryWrite(Span<byte> destination, ulong value, out int bytesWritten)
    {
        int length = GetEncodedLength(value);
        if (destination.Length < length)
        {
            bytesWritten = 0;
            return false;
        }

        WriteFixed(destination, value, length);
        bytesWritten = length;
        return true;
    }

    /// <summary>
    /// Writes <paramref name="value"/> in exactly <paramref name="length"/> bytes (1, 2, 4 or 8), e.g. a length
    /// field reserved before its value is known (QUIC long-header Length, ACK range count). The caller ensures the
    /// value fits the length and the destination holds it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value does not fit <paramref name="length"/> bytes, or the length is not 1, 2, 4 or 8.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteFixed(Span<byte> destination, ulong value, int length)
    {
        switch (length)
        {
            case 1 when value <= 63:
                destination[0] = (byte)value;
                break;
            case 2 when value <= 16383:
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(value | 0x4000));
                break;
            case 4 when value <= 1073741823:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value | 0x8000_0000u);
                break;
            case 8 when value <= MaxValue:
                BinaryPrimitives.WriteUInt64BigEndian(destination, value | 0xC000_0000_0000_0000UL);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit a {length}-byte varint.");
        }
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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
