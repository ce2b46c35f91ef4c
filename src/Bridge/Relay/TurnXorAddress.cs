using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// XOR-PEER-ADDRESS / XOR-RELAYED-ADDRESS / XOR-MAPPED-ADDRESS value (RFC 8489 §14.2, RFC 8656 §18.3, §18.5):
/// <code>
/// |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
/// |                X-Address (32 or 128 bits)                     |
/// </code>
/// X-Port = port ^ 0x2112; IPv4 X-Address = address ^ 0x2112A442; IPv6 = address ^ (cookie ‖ transaction id).
/// </summary>
internal static class TurnXorAddress
{
    private const uint Cookie = 0x2112A442;

    public static int EncodedLength(IPEndPoint ep) => ep.AddressFamily == AddressFamily.InterNetwork ? 8 : 20;

    /// <summary>Writes the value; <paramref name="dst"/> holds at least <see cref="EncodedLength"/> bytes.</summary>
    public static void Write(Span<byte> dst, IPEndPoint ep, ReadOnlySpan<byte> transactionId)
    {
        bool v4 = ep.AddressFamily == AddressFamily.InterNetwork;
        dst[0] = 0;
        dst[1] = v4 ? (byte)1 : (byte)2;
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)(ep.Port ^ (Cookie >> 16)));
        Span<byte> addr = stackalloc byte[16];
        ep.Address.TryWriteBytes(addr, out int n);
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, Cookie);
        transactionId.CopyTo(mask[4..]);
        for (int i = 0; i < n; i++) dst[4 + i] = (byte)(addr[i] ^ mask[i]);
    }

    /// <summary>Reads the value; false (never throws) when malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> value, ReadOnlySpan<byte> transactionId, out IPEndPoint? ep)
    {
        ep = null;
        if (value.Length < 4 || transactionId.Length != 12) return false;
        int len = value[1] switch { 1 => 4, 2 => 16, _ => -1 };
        if (len < 0 || value.Length != 4 + len) return false;
        int port = BinaryPrimitives.ReadUInt16BigEndian(value[2..]) ^ (int)(Cookie >> 16);
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, Cookie);
        transactionId.CopyTo(mask[4..]);
        Span<byte> addr = stackalloc byte[len];
        for (int i = 0; i < len; i++) addr[i] = (byte)(value[4 + i] ^ mask[i]);
        ep = new IPEndPoint(new IPAddress(addr), port);
        return true;
    }
}
