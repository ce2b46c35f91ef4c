using System.Buffers.Binary;

namespace OspBridge.Bridge.Relay;

/// <summary>What <see cref="TurnStreamFrame.TryRead"/> found at the start of the buffered bytes.</summary>
internal enum TurnStreamFrameStatus
{
    /// <summary>Not enough bytes yet for the header or the whole frame.</summary>
    NeedMore,
    /// <summary>A whole frame.</summary>
    Frame,
    /// <summary>Not a STUN message or ChannelData, or larger than allowed: the connection must be closed (no resync on a stream).</summary>
    Invalid,
}

/// <summary>
/// TURN messages over a TCP or TLS client connection (RFC 8656 §3.1/§12.5, RFC 5766 §2.1): the stream carries STUN
/// messages and ChannelData messages back to back; the receiver finds the boundaries from the headers — a STUN
/// message is its 20-byte header plus the length in bytes 2–3 (a multiple of 4, magic cookie 0x2112A442 in bytes 4–7);
/// ChannelData (first two bits 01) is 4 bytes plus the length in bytes 2–3, padded to a multiple of 4 on a stream. Both
/// lengths are read from the first 8 bytes, so a frame's size is checked against the limit before anything is buffered
/// beyond it. Transactional: nothing is consumed unless a whole frame is there.
/// </summary>
internal static class TurnStreamFrame
{
    /// <summary>Bytes needed to size any frame (STUN's length and cookie).</summary>
    public const int SizingBytes = 8;

    private const uint MagicCookie = 0x2112A442;

    /// <summary>
    /// Finds the frame at the start of <paramref name="buffered"/>: its bytes on the wire (<paramref name="frameLength"/>,
    /// padding included) and the message without stream padding (<paramref name="messageLength"/>, what the core takes).
    /// </summary>
    public static TurnStreamFrameStatus TryRead(ReadOnlySpan<byte> buffered, int maxFrame, out int frameLength, out int messageLength)
    {
        frameLength = 0;
        messageLength = 0;
        if (buffered.Length < 4) return TurnStreamFrameStatus.NeedMore;
        int length = BinaryPrimitives.ReadUInt16BigEndian(buffered[2..]);
        switch (buffered[0] >> 6)
        {
            case 0: // STUN
                if ((length & 3) != 0) return TurnStreamFrameStatus.Invalid;
                if (buffered.Length < SizingBytes) return TurnStreamFrameStatus.NeedMore;
                if (BinaryPrimitives.ReadUInt32BigEndian(buffered[4..]) != MagicCookie) return TurnStreamFrameStatus.Invalid;
                messageLength = frameLength = 20 + length;
                break;
            case 1: // ChannelData
                ushort channel = BinaryPrimitives.ReadUInt16BigEndian(buffered);
                if (channel is < TurnConstants.MinChannel or > TurnConstants.MaxChannel) return TurnStreamFrameStatus.Invalid;
                messageLength = TurnChannelData.HeaderLength + length;
                frameLength = (messageLength + 3) & ~3;
                break;
            default:
                return TurnStreamFrameStatus.Invalid;
        }
        if (frameLength > maxFrame)
        {
            frameLength = messageLength = 0;
            return TurnStreamFrameStatus.Invalid;
        }
        return buffered.Length >= frameLength ? TurnStreamFrameStatus.Frame : TurnStreamFrameStatus.NeedMore;
    }

    /// <summary>Bytes of padding a message of <paramref name="messageLength"/> needs on a stream (ChannelData only; STUN is aligned).</summary>
    public static int PaddingOf(int messageLength) => ((messageLength + 3) & ~3) - messageLength;
}
