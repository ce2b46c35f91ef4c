using System.Buffers.Binary;

namespace OspBridge.Crypto.Dtls;

/// <summary>
/// DTLS record header (RFC 6347 §4.1), 13 bytes:
/// <code>
///  0                   1                   2                   3
/// | type (8)      | version (16)                  | epoch (16) ...
/// ... epoch       | sequence_number (48) ...
/// ...                                             | length (16)                   |
/// </code>
/// followed by <c>length</c> bytes of fragment (plaintext in epoch 0, GenericAEADCipher afterwards).
/// </summary>
internal readonly record struct DtlsRecordHeader(byte ContentType, ushort Version, ushort Epoch, ulong SequenceNumber, ushort Length)
{
    public const int Size = 13;

    /// <summary>Largest fragment length accepted (2^14 plaintext + 2048 expansion, RFC 6347 §4.1 / RFC 5246 §6.2.3).</summary>
    public const int MaxFragmentLength = (1 << 14) + 2048;

    /// <summary>Parses one header and checks that its fragment fits in <paramref name="input"/>; false for anything else.</summary>
    public static bool TryRead(ReadOnlySpan<byte> input, out DtlsRecordHeader header)
    {
        header = default;
        if (input.Length < Size) return false;
        byte type = input[0];
        if (type < TlsContentType.ChangeCipherSpec || type > TlsContentType.ApplicationData) return false;
        ushort version = BinaryPrimitives.ReadUInt16BigEndian(input[1..]);
        if ((version >> 8) != 0xFE) return false;
        ushort epoch = BinaryPrimitives.ReadUInt16BigEndian(input[3..]);
        ulong seq = ((ulong)BinaryPrimitives.ReadUInt16BigEndian(input[5..]) << 32) | BinaryPrimitives.ReadUInt32BigEndian(input[7..]);
        ushort length = BinaryPrimitives.ReadUInt16BigEndian(input[11..]);
        if (length > MaxFragmentLength || input.Length - Size < length) return false;
        header = new DtlsRecordHeader(type, version, epoch, seq, length);
        return true;
    }

    public void Write(Span<byte> dest)
    {
        dest[0] = ContentType;
        BinaryPrimitives.WriteUInt16BigEndian(dest[1..], Version);
        BinaryPrimitives.WriteUInt16BigEndian(dest[3..], Epoch);
        BinaryPrimitives.WriteUInt16BigEndian(dest[5..], (ushort)(SequenceNumber >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(dest[7..], (uint)SequenceNumber);
        BinaryPrimitives.WriteUInt16BigEndian(dest[11..], Length);
    }

    /// <summary>The 64-bit epoch || sequence_number used in the AEAD additional data and as explicit nonce.</summary>
    public ulong EpochAndSequence => ((ulong)Epoch << 48) | SequenceNumber;
}
