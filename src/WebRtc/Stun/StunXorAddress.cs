using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace OspBridge.WebRtc.Stun;

/// <summary>
/// XOR-MAPPED-ADDRESS (RFC 8489 §14.2) and MAPPED-ADDRESS (§14.1):
/// <code>
///  0                   1                   2                   3
/// |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
/// |                X-Address (Variable: 32 or 128 bits)           |
/// </code>
/// X-Port = port XOR (cookie &gt;&gt; 16); IPv4 X-Address = address XOR cookie; IPv6 = address XOR (cookie ‖ transaction id).
/// The same value encodes TURN's XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS (RFC 8656 §18.3, §18.5).
/// </summary>
public static class StunXorAddress
{
    /// <summary>Bytes the value for <paramref name="ep"/> takes: 8 for IPv4, 20 for IPv6.</summary>
    public static int EncodedLength(IPEndPoint ep) => ep.AddressFamily == AddressFamily.InterNetwork ? 8 : 20;

    /// <summary>
    /// Writes the value for <paramref name="ep"/> into <paramref name="dst"/> (at least <see cref="EncodedLength"/> bytes),
    /// XOR-ed with the cookie and <paramref name="transactionId"/> when <paramref name="xor"/> (MAPPED-ADDRESS otherwise).
    /// </summary>
    public static void Write(Span<byte> dst, IPEndPoint ep, ReadOnlySpan<byte> transactionId, bool xor)
    {
        bool v4 = ep.AddressFamily == AddressFamily.InterNetwork;
        dst[0] = 0;
        dst[1] = v4 ? (byte)1 : (byte)2;
        ushort port = (ushort)ep.Port;
        if (xor) port ^= (ushort)(StunConstants.MagicCookie >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], port);
        Span<byte> addr = stackalloc byte[16];
        ep.Address.TryWriteBytes(addr, out int n);
        if (xor)
        {
            Span<byte> mask = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(mask, StunConstants.MagicCookie);
            transactionId.CopyTo(mask[4..]);
            for (int i = 0; i < n; i++) addr[i] ^= mask[i];
        }
        addr[..n].CopyTo(dst[4..]);
    }

    /// <summary>Reads a value; false (never throws) when malformed (short, unknown family, wrong length).</summary>
    public static bool TryRead(ReadOnlySpan<byte> value, ReadOnlySpan<byte> transactionId, bool xor, out IPEndPoint? ep)
    {
        ep = null;
        if (value.Length < 4) return false;
        int len = value[1] switch { 1 => 4, 2 => 16, _ => -1 };
        if (len < 0 || value.Length != 4 + len) return false;
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(value[2..]);
        Span<byte> addr = stackalloc byte[len];
        value.Slice(4, len).CopyTo(addr);
        if (xor)
        {
            port ^= (ushort)(StunConstants.MagicCookie >> 16);
            Span<byte> mask = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(mask, StunConstants.MagicCookie);
            transactionId.CopyTo(mask[4..]);
            for (int i = 0; i < len; i++) addr[i] ^= mask[i];
        }
        ep = new IPEndPoint(new IPAddress(addr), port);
        return true;
    }
}
