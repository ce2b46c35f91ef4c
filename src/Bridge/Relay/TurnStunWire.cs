using System.Buffers.Binary;
using System.Net;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// Allocation-free STUN framing for the relay's hot path (RFC 8489 §5-6): a header check, an attribute walker over
/// a received message, a Send indication reader and a Data indication writer (RFC 8656 §11.4, §11.6). Requests
/// (Allocate, Refresh, CreatePermission, ChannelBind) are parsed and authenticated with the ICE layer's
/// <see cref="OspBridge.WebRtc.Stun.StunMessage"/>; this file only adds what the relay needs per packet.
/// </summary>
internal static class TurnStunWire
{
    public const int HeaderLength = 20;
    private const uint Cookie = 0x2112A442;

    /// <summary>STUN header: first two bits zero, magic cookie, length a multiple of 4 that matches the datagram.</summary>
    public static bool IsStun(ReadOnlySpan<byte> d) =>
        d.Length >= HeaderLength && (d[0] & 0xC0) == 0 && BinaryPrimitives.ReadUInt32BigEndian(d[4..]) == Cookie
        && (BinaryPrimitives.ReadUInt16BigEndian(d[2..]) & 3) == 0 && BinaryPrimitives.ReadUInt16BigEndian(d[2..]) + HeaderLength == d.Length;

    /// <summary>Method and class of a message that passed <see cref="IsStun"/> (class: 0 request, 1 indication, 2 success, 3 error).</summary>
    public static (ushort Method, int Class) TypeOf(ReadOnlySpan<byte> d)
    {
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(d);
        ushort method = (ushort)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
        int cls = ((type >> 4) & 1) | ((type >> 7) & 2);
        return (method, cls);
    }

    /// <summary>
    /// The next attribute at <paramref name="pos"/> (start at <see cref="HeaderLength"/>); false at the end or when the
    /// attribute does not fit (the message is then malformed).
    /// </summary>
    public static bool TryNextAttribute(ReadOnlySpan<byte> msg, ref int pos, out ushort type, out int valueOffset, out int valueLength)
    {
        type = 0;
        valueOffset = 0;
        valueLength = 0;
        if (msg.Length - pos < 4) return false;
        type = BinaryPrimitives.ReadUInt16BigEndian(msg[pos..]);
        valueLength = BinaryPrimitives.ReadUInt16BigEndian(msg[(pos + 2)..]);
        int padded = (valueLength + 3) & ~3;
        if (padded > msg.Length - pos - 4) return false;
        valueOffset = pos + 4;
        pos = valueOffset + padded;
        return true;
    }

    /// <summary>Reads a Send indication: its XOR-PEER-ADDRESS and DATA. False when it is not one or lacks either.</summary>
    public static bool TryReadSendIndication(ReadOnlySpan<byte> msg, out IPEndPoint? peer, out int dataOffset, out int dataLength)
    {
        peer = null;
        dataOffset = 0;
        dataLength = -1;
        if (!IsStun(msg) || TypeOf(msg) != (TurnConstants.Send, 1)) return false;
        int pos = HeaderLength;
        while (pos < msg.Length)
        {
            if (!TryNextAttribute(msg, ref pos, out ushort t, out int off, out int len)) return false;
            if (t == TurnConstants.AttrXorPeerAddress && peer is null)
            {
                if (!TurnXorAddress.TryRead(msg.Slice(off, len), msg.Slice(8, 12), out peer)) return false;
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
        HeaderLength + 4 + TurnXorAddress.EncodedLength(peer) + 4 + ((dataLength + 3) & ~3);

    /// <summary>Writes a Data indication (XOR-PEER-ADDRESS, DATA) with transaction id <paramref name="transactionId"/>; returns its length.</summary>
    public static int WriteDataIndication(Span<byte> dst, ReadOnlySpan<byte> transactionId, IPEndPoint peer, ReadOnlySpan<byte> data)
    {
        int total = DataIndicationLength(peer, data.Length);
        BinaryPrimitives.WriteUInt16BigEndian(dst, OspBridge.WebRtc.Stun.StunMessage.EncodeType(TurnConstants.Data, OspBridge.WebRtc.Stun.StunClass.Indication));
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)(total - HeaderLength));
        BinaryPrimitives.WriteUInt32BigEndian(dst[4..], Cookie);
        transactionId.CopyTo(dst[8..]);
        int pos = HeaderLength;
        int alen = TurnXorAddress.EncodedLength(peer);
        BinaryPrimitives.WriteUInt16BigEndian(dst[pos..], TurnConstants.AttrXorPeerAddress);
        BinaryPrimitives.WriteUInt16BigEndian(dst[(pos + 2)..], (ushort)alen);
        TurnXorAddress.Write(dst[(pos + 4)..], peer, transactionId);
        pos += 4 + alen;
        BinaryPrimitives.WriteUInt16BigEndian(dst[pos..], TurnConstants.AttrData);
        BinaryPrimitives.WriteUInt16BigEndian(dst[(pos + 2)..], (ushort)data.Length);
        data.CopyTo(dst[(pos + 4)..]);
        int end = pos + 4 + data.Length;
        dst[end..total].Clear();
        return total;
    }
}
