using System.Buffers.Binary;
using System.Net;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// The TURN-only framing of the relay's hot path (RFC 8656 §11.4, §11.6): a Send indication reader and a Data
/// indication writer. STUN itself (header, attribute walk, XOR addresses, requests and their authentication) is the
/// ICE layer's: <see cref="StunMessage.TryReadHeader"/>, <see cref="StunMessage.TryNextAttribute"/>,
/// <see cref="StunXorAddress"/>, <see cref="StunMessage.TryParse"/>.
/// </summary>
internal static class TurnStunWire
{
    /// <summary>Reads a Send indication: its XOR-PEER-ADDRESS and DATA. False when it is not one or lacks either.</summary>
    public static bool TryReadSendIndication(ReadOnlySpan<byte> msg, out IPEndPoint? peer, out int dataOffset, out int dataLength)
    {
        peer = null;
        dataOffset = 0;
        dataLength = -1;
        if (!StunMessage.TryReadHeader(msg, out ushort method, out var cls) || method != TurnConstants.Send || cls != StunClass.Indication) return false;
        int pos = StunConstants.HeaderLength;
        while (pos < msg.Length)
        {
            if (!StunMessage.TryNextAttribute(msg, ref pos, out ushort t, out int off, out int len)) return false;
            if (t == TurnConstants.AttrXorPeerAddress && peer is null)
            {
                if (!StunXorAddress.TryRead(msg.Slice(off, len), msg.Slice(8, 12), true, out peer)) return false;
            }
            else if (t == TurnConstants.AttrData && dataLength < 0)
            {
                dataOffset = off;
                dataLength = len;
            }
        }
        return peer is not null && dataLength >= 0;
    }

    /// <summary>Bytes a Data indication for <paramref name="peer"/> carrying <paramref name="dataLength"/> bytes takes.</summary>
    public static int DataIndicationLength(IPEndPoint peer, int dataLength) =>
        StunConstants.HeaderLength + 4 + StunXorAddress.EncodedLength(peer) + 4 + ((dataLength + 3) & ~3);

    /// <summary>Writes a Data indication (XOR-PEER-ADDRESS, DATA) with transaction id <paramref name="transactionId"/>; returns its length.</summary>
    public static int WriteDataIndication(Span<byte> dst, ReadOnlySpan<byte> transactionId, IPEndPoint peer, ReadOnlySpan<byte> data)
    {
        int total = DataIndicationLength(peer, data.Length);
        BinaryPrimitives.WriteUInt16BigEndian(dst, StunMessage.EncodeType(TurnConstants.Data, StunClass.Indication));
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)(total - StunConstants.HeaderLength));
        BinaryPrimitives.WriteUInt32BigEndian(dst[4..], StunConstants.MagicCookie);
        transactionId.CopyTo(dst[8..]);
        int pos = StunConstants.HeaderLength;
        int alen = StunXorAddress.EncodedLength(peer);
        BinaryPrimitives.WriteUInt16BigEndian(dst[pos..], TurnConstants.AttrXorPeerAddress);
        BinaryPrimitives.WriteUInt16BigEndian(dst[(pos + 2)..], (ushort)alen);
        StunXorAddress.Write(dst[(pos + 4)..], peer, transactionId, xor: true);
        pos += 4 + alen;
        BinaryPrimitives.WriteUInt16BigEndian(dst[pos..], TurnConstants.AttrData);
        BinaryPrimitives.WriteUInt16BigEndian(dst[(pos + 2)..], (ushort)data.Length);
        data.CopyTo(dst[(pos + 4)..]);
        int end = pos + 4 + data.Length;
        dst[end..total].Clear();
        return total;
    }
}
