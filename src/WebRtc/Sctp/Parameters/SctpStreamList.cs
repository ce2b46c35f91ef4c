using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// The list of 16-bit stream numbers that ends both stream-reset request parameters (RFC 6525 §4.1, §4.2): it
/// follows a fixed part and fills the rest of the parameter value.
/// </summary>
internal static class SctpStreamList
{
    /// <summary>True if <paramref name="value"/> holds the fixed part and a whole number of stream numbers after it.</summary>
    public static bool IsValid(ReadOnlySpan<byte> value, int fixedLength) => value.Length >= fixedLength && (value.Length - fixedLength) % 2 == 0;

    /// <summary>Stream numbers in <paramref name="list"/>.</summary>
    public static int Count(ReadOnlySpan<byte> list) => list.Length / 2;

    /// <summary>Stream number <paramref name="index"/> of <paramref name="list"/>.</summary>
    public static ushort Get(ReadOnlySpan<byte> list, int index) => BinaryPrimitives.ReadUInt16BigEndian(list.Slice(index * 2));

    /// <summary>Writes <paramref name="streams"/> and returns the bytes written.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<ushort> streams)
    {
        for (int i = 0; i < streams.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2 * i), streams[i]);
        }
        return 2 * streams.Length;
    }
}
