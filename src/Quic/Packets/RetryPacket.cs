using System.Buffers.Binary;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Packets;

/// <summary>
/// Retry packet (RFC 9000 §17.2.5):
/// <code>1 1 11 xxxx | Version (32) | DCID Len | DCID | SCID Len | SCID | Retry Token | Retry Integrity Tag (128)</code>
/// </summary>
internal static class RetryPacket
{
    public static int Write(Span<byte> dest, ReadOnlySpan<byte> dcid, ReadOnlySpan<byte> scid, ReadOnlySpan<byte> token, ReadOnlySpan<byte> originalDcid, byte unused = 0)
    {
        int need = 7 + dcid.Length + scid.Length + token.Length + 16;
        if (dest.Length < need) return 0;
        dest[0] = (byte)(0xf0 | (unused & 0x0f));
        BinaryPrimitives.WriteUInt32BigEndian(dest[1..], PacketHeader.Version1);
        dest[5] = (byte)dcid.Length; dcid.CopyTo(dest[6..]);
        int p = 6 + dcid.Length;
        dest[p++] = (byte)scid.Length; scid.CopyTo(dest[p..]); p += scid.Length;
        token.CopyTo(dest[p..]); p += token.Length;
        RetryIntegrity.ComputeTag(originalDcid, dest[..p], dest.Slice(p, 16));
        return p + 16;
    }
}
