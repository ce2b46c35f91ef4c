namespace OspBridge.Crypto.Dtls;

/// <summary>
/// DTLS handshake message header (RFC 6347 §4.2.2), 12 bytes:
/// <code>
/// msg_type (8) | length (24) | message_seq (16) | fragment_offset (24) | fragment_length (24)
/// </code>
/// followed by <c>fragment_length</c> bytes of the body starting at <c>fragment_offset</c>.
/// In the transcript every message appears unfragmented (offset 0, fragment_length = length).
/// </summary>
internal readonly record struct DtlsHandshakeHeader(byte MessageType, int Length, ushort MessageSeq, int FragmentOffset, int FragmentLength)
{
    public const int Size = 12;

    /// <summary>Reads one fragment header and checks that the fragment is inside both the message and <paramref name="input"/>.</summary>
    public static bool TryRead(ReadOnlySpan<byte> input, out DtlsHandshakeHeader header)
    {
        header = default;
        if (input.Length < Size) return false;
        int length = (input[1] << 16) | (input[2] << 8) | input[3];
        ushort seq = (ushort)((input[4] << 8) | input[5]);
        int off = (input[6] << 16) | (input[7] << 8) | input[8];
        int flen = (input[9] << 16) | (input[10] << 8) | input[11];
        if (off > length || flen > length - off || input.Length - Size < flen) return false;
        header = new DtlsHandshakeHeader(input[0], length, seq, off, flen);
        return true;
    }

    public void Write(Span<byte> dest)
    {
        dest[0] = MessageType;
        dest[1] = (byte)(Length >> 16); dest[2] = (byte)(Length >> 8); dest[3] = (byte)Length;
        dest[4] = (byte)(MessageSeq >> 8); dest[5] = (byte)MessageSeq;
        dest[6] = (byte)(FragmentOffset >> 16); dest[7] = (byte)(FragmentOffset >> 8); dest[8] = (byte)FragmentOffset;
        dest[9] = (byte)(FragmentLength >> 16); dest[10] = (byte)(FragmentLength >> 8); dest[11] = (byte)FragmentLength;
    }
}
