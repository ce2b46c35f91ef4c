namespace OspBridge.Quic.Protection;

/// <summary>
/// Applies and removes packet protection (RFC 9001 §5.3–5.4) in place. The header-protection sample starts
/// 4 bytes after the start of the packet number field; the first byte's low 4 (long) or 5 (short) bits and the
/// packet number bytes are masked.
/// </summary>
internal static class PacketProtector
{
    /// <summary>
    /// <paramref name="packet"/> holds the header (packet number of <paramref name="pnLength"/> bytes at
    /// <paramref name="pnOffset"/>) followed by <paramref name="payloadLength"/> plaintext bytes and room for the tag.
    /// Encrypts, appends the tag, applies header protection; returns the protected packet length.
    /// </summary>
    public static int Protect(PacketKeys keys, Span<byte> packet, int pnOffset, int pnLength, ulong pn, int payloadLength)
        => Protect(keys, packet, pnOffset, pnLength, pn, payloadLength, default);

    /// <summary>
    /// As <see cref="Protect(PacketKeys, Span{byte}, int, int, ulong, int)"/>, with payload runs whose plaintext is
    /// still elsewhere (<see cref="SealPiece"/>, offsets relative to the payload; needs <see cref="PacketKeys.CanGather"/>).
    /// </summary>
    public static int Protect(PacketKeys keys, Span<byte> packet, int pnOffset, int pnLength, ulong pn, int payloadLength, ReadOnlySpan<SealPiece> pieces)
    {
        int headerLength = pnOffset + pnLength;
        var header = packet[..headerLength];
        var payload = packet.Slice(headerLength, payloadLength);
        var tag = packet.Slice(headerLength + payloadLength, PacketKeys.TagLength);
        if (pieces.IsEmpty) keys.Seal(pn, header, payload, tag);
        else keys.SealGathered(pn, header, payload, pieces, tag);
        ulong mask = keys.HeaderProtection.Mask(packet.Slice(pnOffset + 4, HeaderProtection.SampleLength));
        packet[0] ^= (byte)(mask & ((packet[0] & 0x80) != 0 ? 0x0fu : 0x1fu));
        for (int i = 0; i < pnLength; i++) packet[pnOffset + i] ^= (byte)(mask >> (8 * (1 + i)));
        return headerLength + payloadLength + PacketKeys.TagLength;
    }

    /// <summary>Removes header protection; false when the packet is too short to sample.</summary>
    public static bool TryRemoveHeaderProtection(HeaderProtection hp, Span<byte> packet, int pnOffset, out int pnLength, out uint truncatedPn)
    {
        pnLength = 0; truncatedPn = 0;
        if (packet.Length < pnOffset + 4 + HeaderProtection.SampleLength) return false;
        ulong mask = hp.Mask(packet.Slice(pnOffset + 4, HeaderProtection.SampleLength));
        packet[0] ^= (byte)(mask & ((packet[0] & 0x80) != 0 ? 0x0fu : 0x1fu));
        pnLength = (packet[0] & 3) + 1;
        var pn = packet.Slice(pnOffset, pnLength);
        for (int i = 0; i < pn.Length; i++)
        {
            pn[i] ^= (byte)(mask >> (8 * (1 + i)));
            truncatedPn = (truncatedPn << 8) | pn[i];
        }
        return true;
    }

    /// <summary>Decrypts the payload in place after header protection was removed; false on authentication failure.</summary>
    public static bool TryDecrypt(PacketKeys keys, Span<byte> packet, int pnOffset, int pnLength, ulong pn, out int payloadOffset, out int payloadLength)
    {
        payloadOffset = pnOffset + pnLength;
        payloadLength = packet.Length - payloadOffset - PacketKeys.TagLength;
        if (payloadLength < 0) return false;
        return keys.TryOpen(pn, packet[..payloadOffset], packet.Slice(payloadOffset, payloadLength), packet[^PacketKeys.TagLength..]);
    }
}
