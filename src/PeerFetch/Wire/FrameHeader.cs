using System.Buffers.Binary;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// The 9-byte header in front of every v2 frame (the HTTP/2 layout, RFC 9113 §4.1):
/// <code>
///  Length (24) | Type (8) | Flags (8) | R (1) | Stream Identifier (31)
/// </code>
/// Length counts the payload only. One data-channel message carries one or more whole frames; a frame never spans
/// two messages.
/// </summary>
internal readonly record struct FrameHeader(int Length, FrameType Type, FrameFlags Flags, uint StreamId)
{
    public const int Size = 9;

    /// <summary>Largest payload the format can express (2^24-1).</summary>
    public const int MaxLength = (1 << 24) - 1;

    /// <summary>
    /// Reads a header and checks that the whole frame is present. False (nothing consumed) when
    /// <paramref name="input"/> is shorter than the header or the frame it announces.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> input, out FrameHeader header)
    {
        header = default;
        if (input.Length < Size) return false;
        int length = (input[0] << 16) | (input[1] << 8) | input[2];
        if (input.Length - Size < length) return false;
        header = new FrameHeader(length, (FrameType)input[3], (FrameFlags)input[4], BinaryPrimitives.ReadUInt32BigEndian(input[5..]) & 0x7fff_ffffu);
        return true;
    }

    public void Write(Span<byte> destination)
    {
        if ((uint)Length > MaxLength) throw new ArgumentOutOfRangeException(nameof(destination), "frame payload too long");
        destination[0] = (byte)(Length >> 16);
        destination[1] = (byte)(Length >> 8);
        destination[2] = (byte)Length;
        destination[3] = (byte)Type;
        destination[4] = (byte)Flags;
        BinaryPrimitives.WriteUInt32BigEndian(destination[5..], StreamId & 0x7fff_ffffu);
    }

    /// <summary>Allocates a frame buffer and writes the header in front of a payload of <paramref name="length"/> bytes.</summary>
    public static byte[] Allocate(FrameType type, FrameFlags flags, uint streamId, int length)
    {
        var buffer = new byte[Size + length];
        new FrameHeader(length, type, flags, streamId).Write(buffer);
        return buffer;
    }
}
