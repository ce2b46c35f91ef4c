using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace OspBridge.Quic.Internal;

/// <summary>
/// QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the length
/// (1, 2, 4 or 8 bytes), the rest is the big-endian value. Own copy inside OspBridge.Quic because the shared
/// Net encoding helper was not merged when this was written.
/// </summary>
internal static class QuicVarint
{
    /// <summary>Largest encodable value (2^62 - 1).</summary>
    public const ulong MaxValue = (1UL << 62) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SizeOf(ulong value) => value < 64 ? 1 : value < 16384 ? 2 : value < 1073741824 ? 4 : 8;

    /// <summary>Reads a varint; false when <paramref name="source"/> is too short.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int length)
    {
        if (source.IsEmpty) { value = 0; length = 0; return false; }
        length = 1 << (source[0] >> 6);
        if (source.Length < length) { value = 0; return false; }
        switch (length)
        {
            case 1: value = source[0]; break;
            case 2: value = (ulong)(BinaryPrimitives.ReadUInt16BigEndian(source) & 0x3fff); break;
            case 4: value = BinaryPrimitives.ReadUInt32BigEndian(source) & 0x3fffffffu; break;
            default: value = BinaryPrimitives.ReadUInt64BigEndian(source) & 0x3fffffffffffffffUL; break;
        }
        return true;
    }

    /// <summary>Writes a varint in its shortest form; returns bytes written or 0 when it does not fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TryWrite(Span<byte> dest, ulong value)
    {
        int n = SizeOf(value);
        if (dest.Length < n || value > MaxValue) return 0;
        WriteFixed(dest, value, n);
        return n;
    }

    /// <summary>Writes a varint using exactly <paramref name="length"/> bytes (1, 2, 4, 8).</summary>
    public static void WriteFixed(Span<byte> dest, ulong value, int length)
    {
        switch (length)
        {
            case 1: dest[0] = (byte)value; break;
            case 2: BinaryPrimitives.WriteUInt16BigEndian(dest, (ushort)(value | 0x4000)); break;
            case 4: BinaryPrimitives.WriteUInt32BigEndian(dest, (uint)value | 0x80000000u); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(dest, value | 0xC000000000000000UL); break;
        }
    }
}
