using System.Buffers;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// One encoded frame waiting to be sent: <see cref="Length"/> bytes of <see cref="Bytes"/> from <see cref="Offset"/>.
/// Per-frame hot frames (DATA, WINDOW_UPDATE) live in arrays rented from <see cref="ArrayPool{T}.Shared"/>
/// (<see cref="Pooled"/>) with <see cref="HeaderRoom"/> free bytes in front, so a message channel with header room
/// (<c>IPooledMessageChannel.SendPooledAsync</c>) can take the array and frame it in place, uncopied; otherwise whoever
/// sends the frame calls <see cref="Release"/> exactly once after the channel took the bytes (every
/// <c>IMessageChannel.SendAsync</c> copies or consumes them before it completes).
/// </summary>
internal readonly record struct OutFrame(byte[] Bytes, int Offset, int Length, bool Pooled)
{
    /// <summary>Free bytes in front of a pooled frame: room for a message channel's own framing (LP2P needs 10).</summary>
    public const int HeaderRoom = 16;

    /// <summary>An exact-size array that is not pooled (HELLO, HEADERS, RESET, PING, GOAWAY: per request or rarer).</summary>
    public static OutFrame Unpooled(byte[] bytes) => new(bytes, 0, bytes.Length, Pooled: false);

    /// <summary>Rents an array for a frame of <paramref name="payloadLength"/> bytes (after <see cref="HeaderRoom"/>) and writes its header.</summary>
    public static OutFrame Rent(FrameType type, FrameFlags flags, uint streamId, int payloadLength)
    {
        var bytes = ArrayPool<byte>.Shared.Rent(HeaderRoom + FrameHeader.Size + payloadLength);
        new FrameHeader(payloadLength, type, flags, streamId).Write(bytes.AsSpan(HeaderRoom));
        return new OutFrame(bytes, HeaderRoom, FrameHeader.Size + payloadLength, Pooled: true);
    }

    /// <summary>The frame's bytes.</summary>
    public ReadOnlyMemory<byte> Memory => Bytes.AsMemory(Offset, Length);

    /// <summary>The frame's payload (after the 9-byte header), writable while the frame is being built.</summary>
    public Span<byte> Payload => Bytes.AsSpan(Offset + FrameHeader.Size, Length - FrameHeader.Size);

    /// <summary>Returns a pooled array; the frame must not be used afterwards.</summary>
    public void Release()
    {
        if (Pooled) ArrayPool<byte>.Shared.Return(Bytes);
    }

    /// <summary>An exact-size copy (tests, golden bytes); releases this frame.</summary>
    public byte[] ToArrayAndRelease()
    {
        if (!Pooled && Offset == 0 && Bytes.Length == Length) return Bytes;
        var copy = Bytes.AsSpan(Offset, Length).ToArray();
        Release();
        return copy;
    }
}
