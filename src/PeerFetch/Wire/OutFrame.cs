using System.Buffers;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// One encoded frame waiting to be sent: the first <see cref="Length"/> bytes of <see cref="Bytes"/>. Per-frame hot
/// frames (DATA, WINDOW_UPDATE) live in arrays rented from <see cref="ArrayPool{T}.Shared"/> (<see cref="Pooled"/>);
/// whoever sends the frame calls <see cref="Release"/> exactly once after the channel took the bytes (every
/// <c>IMessageChannel.SendAsync</c> copies or consumes them before it completes).
/// </summary>
internal readonly record struct OutFrame(byte[] Bytes, int Length, bool Pooled)
{
    /// <summary>An exact-size array that is not pooled (HELLO, HEADERS, RESET, PING, GOAWAY: per request or rarer).</summary>
    public static OutFrame Unpooled(byte[] bytes) => new(bytes, bytes.Length, Pooled: false);

    /// <summary>Rents an array for a frame of <paramref name="payloadLength"/> bytes and writes its header.</summary>
    public static OutFrame Rent(FrameType type, FrameFlags flags, uint streamId, int payloadLength)
    {
        var bytes = ArrayPool<byte>.Shared.Rent(FrameHeader.Size + payloadLength);
        new FrameHeader(payloadLength, type, flags, streamId).Write(bytes);
        return new OutFrame(bytes, FrameHeader.Size + payloadLength, Pooled: true);
    }

    /// <summary>The frame's bytes.</summary>
    public ReadOnlyMemory<byte> Memory => Bytes.AsMemory(0, Length);

    /// <summary>The frame's payload (after the 9-byte header), writable while the frame is being built.</summary>
    public Span<byte> Payload => Bytes.AsSpan(FrameHeader.Size, Length - FrameHeader.Size);

    /// <summary>Returns a pooled array; the frame must not be used afterwards.</summary>
    public void Release()
    {
        if (Pooled) ArrayPool<byte>.Shared.Return(Bytes);
    }

    /// <summary>An exact-size copy (tests, golden bytes); releases this frame.</summary>
    public byte[] ToArrayAndRelease()
    {
        if (!Pooled && Bytes.Length == Length) return Bytes;
        var copy = Bytes.AsSpan(0, Length).ToArray();
        Release();
        return copy;
    }
}
